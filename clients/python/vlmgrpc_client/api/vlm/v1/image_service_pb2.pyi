import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as _prediction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageServiceGenerateRequest(_message.Message):
    __slots__ = ("id", "created_at", "callback_url", "model", "batch", "domain", "images", "config", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    callback_url: str
    model: str
    batch: bool
    domain: str
    images: _containers.RepeatedCompositeFieldContainer[_prediction_pb2.ImageInput]
    config: _prediction_pb2.GenerationConfig
    metadata: _prediction_pb2.RequestMetadata
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., callback_url: _Optional[str] = ..., model: _Optional[str] = ..., batch: _Optional[bool] = ..., domain: _Optional[str] = ..., images: _Optional[_Iterable[_Union[_prediction_pb2.ImageInput, _Mapping]]] = ..., config: _Optional[_Union[_prediction_pb2.GenerationConfig, _Mapping]] = ..., metadata: _Optional[_Union[_prediction_pb2.RequestMetadata, _Mapping]] = ...) -> None: ...

class ImageServiceGenerateResponse(_message.Message):
    __slots__ = ("prediction",)
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    prediction: _prediction_pb2.Prediction
    def __init__(self, prediction: _Optional[_Union[_prediction_pb2.Prediction, _Mapping]] = ...) -> None: ...

class ImageServiceGenerateStreamRequest(_message.Message):
    __slots__ = ("id", "created_at", "callback_url", "model", "domain", "images", "config", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    callback_url: str
    model: str
    domain: str
    images: _containers.RepeatedCompositeFieldContainer[_prediction_pb2.ImageInput]
    config: _prediction_pb2.GenerationConfig
    metadata: _prediction_pb2.RequestMetadata
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., callback_url: _Optional[str] = ..., model: _Optional[str] = ..., domain: _Optional[str] = ..., images: _Optional[_Iterable[_Union[_prediction_pb2.ImageInput, _Mapping]]] = ..., config: _Optional[_Union[_prediction_pb2.GenerationConfig, _Mapping]] = ..., metadata: _Optional[_Union[_prediction_pb2.RequestMetadata, _Mapping]] = ...) -> None: ...

class ImageServiceGenerateStreamResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _prediction_pb2.PredictionEvent
    def __init__(self, event: _Optional[_Union[_prediction_pb2.PredictionEvent, _Mapping]] = ...) -> None: ...
