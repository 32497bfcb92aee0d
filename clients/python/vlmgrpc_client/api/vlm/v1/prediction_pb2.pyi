import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREDICTION_STATUS_UNSPECIFIED: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_PENDING: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_ENQUEUED: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_RUNNING: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_COMPLETED: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_FAILED: _ClassVar[PredictionStatus]
    PREDICTION_STATUS_PAUSED: _ClassVar[PredictionStatus]

class PredictionEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREDICTION_EVENT_TYPE_UNSPECIFIED: _ClassVar[PredictionEventType]
    PREDICTION_EVENT_TYPE_SNAPSHOT: _ClassVar[PredictionEventType]
    PREDICTION_EVENT_TYPE_STATUS_CHANGED: _ClassVar[PredictionEventType]
    PREDICTION_EVENT_TYPE_PROGRESS: _ClassVar[PredictionEventType]
    PREDICTION_EVENT_TYPE_HEARTBEAT: _ClassVar[PredictionEventType]
    PREDICTION_EVENT_TYPE_OUTPUT_DELTA: _ClassVar[PredictionEventType]
PREDICTION_STATUS_UNSPECIFIED: PredictionStatus
PREDICTION_STATUS_PENDING: PredictionStatus
PREDICTION_STATUS_ENQUEUED: PredictionStatus
PREDICTION_STATUS_RUNNING: PredictionStatus
PREDICTION_STATUS_COMPLETED: PredictionStatus
PREDICTION_STATUS_FAILED: PredictionStatus
PREDICTION_STATUS_PAUSED: PredictionStatus
PREDICTION_EVENT_TYPE_UNSPECIFIED: PredictionEventType
PREDICTION_EVENT_TYPE_SNAPSHOT: PredictionEventType
PREDICTION_EVENT_TYPE_STATUS_CHANGED: PredictionEventType
PREDICTION_EVENT_TYPE_PROGRESS: PredictionEventType
PREDICTION_EVENT_TYPE_HEARTBEAT: PredictionEventType
PREDICTION_EVENT_TYPE_OUTPUT_DELTA: PredictionEventType

class GenerationConfig(_message.Message):
    __slots__ = ("prompt", "json_schema", "gql_stmt", "max_retries", "max_tokens", "temperature", "detail", "confidence", "grounding", "page_indices", "video_segment_duration", "video_frames_per_segment", "service_tier")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    GQL_STMT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    GROUNDING_FIELD_NUMBER: _ClassVar[int]
    PAGE_INDICES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_SEGMENT_DURATION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FRAMES_PER_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    json_schema: _struct_pb2.Struct
    gql_stmt: str
    max_retries: int
    max_tokens: int
    temperature: float
    detail: str
    confidence: bool
    grounding: bool
    page_indices: _containers.RepeatedScalarFieldContainer[int]
    video_segment_duration: float
    video_frames_per_segment: int
    service_tier: str
    def __init__(self, prompt: _Optional[str] = ..., json_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., gql_stmt: _Optional[str] = ..., max_retries: _Optional[int] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., detail: _Optional[str] = ..., confidence: _Optional[bool] = ..., grounding: _Optional[bool] = ..., page_indices: _Optional[_Iterable[int]] = ..., video_segment_duration: _Optional[float] = ..., video_frames_per_segment: _Optional[int] = ..., service_tier: _Optional[str] = ...) -> None: ...

class RequestMetadata(_message.Message):
    __slots__ = ("environment", "session_id", "allow_training")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_TRAINING_FIELD_NUMBER: _ClassVar[int]
    environment: str
    session_id: str
    allow_training: bool
    def __init__(self, environment: _Optional[str] = ..., session_id: _Optional[str] = ..., allow_training: _Optional[bool] = ...) -> None: ...

class CreditUsage(_message.Message):
    __slots__ = ("elements_processed", "element_type", "credits_used", "steps", "message", "duration_seconds", "output_tokens")
    ELEMENTS_PROCESSED_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREDITS_USED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    elements_processed: int
    element_type: str
    credits_used: int
    steps: int
    message: str
    duration_seconds: int
    output_tokens: int
    def __init__(self, elements_processed: _Optional[int] = ..., element_type: _Optional[str] = ..., credits_used: _Optional[int] = ..., steps: _Optional[int] = ..., message: _Optional[str] = ..., duration_seconds: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("done", "total")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("id", "created_at", "completed_at", "response", "status", "domain", "usage", "error", "request_id", "model", "batch", "progress", "message", "callback_url", "request_created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    response: _struct_pb2.Value
    status: PredictionStatus
    domain: str
    usage: CreditUsage
    error: _status_pb2.Status
    request_id: str
    model: str
    batch: bool
    progress: Progress
    message: str
    callback_url: str
    request_created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., response: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., status: _Optional[_Union[PredictionStatus, str]] = ..., domain: _Optional[str] = ..., usage: _Optional[_Union[CreditUsage, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., request_id: _Optional[str] = ..., model: _Optional[str] = ..., batch: _Optional[bool] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., message: _Optional[str] = ..., callback_url: _Optional[str] = ..., request_created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImageInput(_message.Message):
    __slots__ = ("data", "url", "file_id")
    DATA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    url: str
    file_id: str
    def __init__(self, data: _Optional[bytes] = ..., url: _Optional[str] = ..., file_id: _Optional[str] = ...) -> None: ...

class DocumentInput(_message.Message):
    __slots__ = ("data", "url", "file_id")
    DATA_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    url: str
    file_id: str
    def __init__(self, data: _Optional[bytes] = ..., url: _Optional[str] = ..., file_id: _Optional[str] = ...) -> None: ...

class OutputDelta(_message.Message):
    __slots__ = ("element_index", "text", "offset", "attempt")
    ELEMENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    element_index: int
    text: str
    offset: int
    attempt: int
    def __init__(self, element_index: _Optional[int] = ..., text: _Optional[str] = ..., offset: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class PredictionEvent(_message.Message):
    __slots__ = ("sequence", "event_time", "type", "prediction", "output_delta")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DELTA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_time: _timestamp_pb2.Timestamp
    type: PredictionEventType
    prediction: Prediction
    output_delta: OutputDelta
    def __init__(self, sequence: _Optional[int] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[PredictionEventType, str]] = ..., prediction: _Optional[_Union[Prediction, _Mapping]] = ..., output_delta: _Optional[_Union[OutputDelta, _Mapping]] = ...) -> None: ...
