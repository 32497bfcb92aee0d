"""Protobuf messages to the facade's pydantic types, and its inputs to request messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from vlmgrpc_client import errors
from vlmgrpc_client.api.vlm.v1 import file_service_pb2, hub_service_pb2, model_service_pb2, prediction_pb2
from vlmgrpc_client.types import (
    CreditUsage,
    DomainInfo,
    DomainSchema,
    FieldViolationInfo,
    FileInfo,
    GenerationConfig,
    ModelInfo,
    OutputDelta,
    Prediction,
    PredictionError,
    PredictionEvent,
    Progress,
    RequestMetadata,
)


def json_value(value: Any) -> Any:
    """Whole doubles back to ints, all through a JSON value: a protobuf Struct holds every number as a double,
    so json_format alone turns a page_index of 0 into 0.0 (and it would fail an "integer" schema)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def enum_name(enum, value: int, prefix: str) -> str:
    try:
        return enum.Name(value).removeprefix(prefix).lower()
    except ValueError:  # a value newer than these stubs
        return str(value)


def status_name(value: int) -> str:
    return enum_name(prediction_pb2.PredictionStatus, value, "PREDICTION_STATUS_")


def status_value(status: str | None) -> int:
    """The PredictionStatus of a lowercase name ("running"); None or "" is UNSPECIFIED (any)."""
    if not status:
        return prediction_pb2.PREDICTION_STATUS_UNSPECIFIED
    try:
        return prediction_pb2.PredictionStatus.Value("PREDICTION_STATUS_" + status.upper())
    except ValueError:
        raise errors.InputError(f"unknown status {status!r}", reason="INVALID_STATUS") from None


def _time(msg: prediction_pb2.Prediction, field: str) -> datetime | None:
    return getattr(msg, field).ToDatetime(tzinfo=UTC) if msg.HasField(field) else None


def prediction_error(status) -> PredictionError:
    reason, domain, metadata, violations = errors.details(status)
    return PredictionError(code=status.code, code_name=errors.code_of(status.code).name, message=status.message,
                           reason=reason, domain=domain, metadata=metadata,
                           violations=[FieldViolationInfo(field=v.field, description=v.description)
                                       for v in violations])


def prediction(msg: prediction_pb2.Prediction) -> Prediction:
    u = msg.usage
    return Prediction(
        id=msg.id, status=status_name(msg.status), domain=msg.domain,
        created_at=_time(msg, "created_at"), completed_at=_time(msg, "completed_at"),
        response=json_value(json_format.MessageToDict(msg.response)) if msg.HasField("response") else None,
        usage=CreditUsage(elements_processed=u.elements_processed, element_type=u.element_type,
                          credits_used=u.credits_used, steps=u.steps, message=u.message,
                          duration_seconds=u.duration_seconds, output_tokens=u.output_tokens),
        error=prediction_error(msg.error) if msg.HasField("error") else None,
        request_id=msg.request_id, model=msg.model, batch=msg.batch,
        progress=Progress(done=msg.progress.done, total=msg.progress.total), message=msg.message,
        callback_url=msg.callback_url, request_created_at=_time(msg, "request_created_at"))


def event(msg: prediction_pb2.PredictionEvent) -> PredictionEvent:
    delta = msg.output_delta
    return PredictionEvent(
        sequence=msg.sequence, type=enum_name(prediction_pb2.PredictionEventType, msg.type, "PREDICTION_EVENT_TYPE_"),
        event_time=msg.event_time.ToDatetime(tzinfo=UTC) if msg.HasField("event_time") else None,
        prediction=prediction(msg.prediction) if msg.HasField("prediction") else None,
        output_delta=OutputDelta(element_index=delta.element_index, text=delta.text, offset=delta.offset,
                                 attempt=delta.attempt) if msg.HasField("output_delta") else None)


def file(msg: file_service_pb2.File) -> FileInfo:
    return FileInfo(id=msg.id, filename=msg.filename, bytes=msg.bytes,
                    created_at=msg.created_at.ToDatetime(tzinfo=UTC) if msg.HasField("created_at") else None,
                    object=msg.object or "file", purpose=msg.purpose, content_type=msg.content_type,
                    sha256=msg.sha256, detected_type=msg.detected_type)


def domain(msg: hub_service_pb2.DomainInfo) -> DomainInfo:
    return DomainInfo(domain=msg.domain, description=msg.description, served=msg.served,
                      supported_inputs=list(msg.supported_inputs), models=list(msg.models))


def schema(msg: hub_service_pb2.GetSchemaResponse) -> DomainSchema:
    return DomainSchema(domain=msg.domain, description=msg.description, schema_version=msg.schema_version,
                        schema_hash=msg.schema_hash, gql_stmt=msg.gql_stmt,
                        json_schema=json_value(json_format.MessageToDict(msg.json_schema)))


def model(msg: model_service_pb2.Model) -> ModelInfo:
    return ModelInfo(id=msg.id, engine=msg.engine, protocol=msg.protocol, domains=list(msg.domains),
                     follows_json_schema=msg.follows_json_schema, ready=msg.ready, max_images=msg.max_images)


def config_message(config: GenerationConfig | dict | None) -> prediction_pb2.GenerationConfig | None:
    if config is None:
        return None
    if isinstance(config, dict):
        config = GenerationConfig.model_validate(config)
    return json_format.ParseDict(config.wire(), prediction_pb2.GenerationConfig())


def metadata_message(metadata: RequestMetadata | dict | None) -> prediction_pb2.RequestMetadata | None:
    if metadata is None:
        return None
    if isinstance(metadata, dict):
        metadata = RequestMetadata.model_validate(metadata)
    return json_format.ParseDict(metadata.model_dump(exclude_none=True), prediction_pb2.RequestMetadata())


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return ts
