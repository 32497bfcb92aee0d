import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as _prediction_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentServiceGenerateRequest(_message.Message):
    __slots__ = ("id", "created_at", "callback_url", "model", "batch", "domain", "document", "config", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    callback_url: str
    model: str
    batch: bool
    domain: str
    document: _prediction_pb2.DocumentInput
    config: _prediction_pb2.GenerationConfig
    metadata: _prediction_pb2.RequestMetadata
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., callback_url: _Optional[str] = ..., model: _Optional[str] = ..., batch: _Optional[bool] = ..., domain: _Optional[str] = ..., document: _Optional[_Union[_prediction_pb2.DocumentInput, _Mapping]] = ..., config: _Optional[_Union[_prediction_pb2.GenerationConfig, _Mapping]] = ..., metadata: _Optional[_Union[_prediction_pb2.RequestMetadata, _Mapping]] = ...) -> None: ...

class DocumentServiceGenerateResponse(_message.Message):
    __slots__ = ("prediction",)
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    prediction: _prediction_pb2.Prediction
    def __init__(self, prediction: _Optional[_Union[_prediction_pb2.Prediction, _Mapping]] = ...) -> None: ...

class DocumentServiceGenerateStreamRequest(_message.Message):
    __slots__ = ("id", "created_at", "callback_url", "model", "domain", "document", "config", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    callback_url: str
    model: str
    domain: str
    document: _prediction_pb2.DocumentInput
    config: _prediction_pb2.GenerationConfig
    metadata: _prediction_pb2.RequestMetadata
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., callback_url: _Optional[str] = ..., model: _Optional[str] = ..., domain: _Optional[str] = ..., document: _Optional[_Union[_prediction_pb2.DocumentInput, _Mapping]] = ..., config: _Optional[_Union[_prediction_pb2.GenerationConfig, _Mapping]] = ..., metadata: _Optional[_Union[_prediction_pb2.RequestMetadata, _Mapping]] = ...) -> None: ...

class DocumentServiceGenerateStreamResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _prediction_pb2.PredictionEvent
    def __init__(self, event: _Optional[_Union[_prediction_pb2.PredictionEvent, _Mapping]] = ...) -> None: ...
