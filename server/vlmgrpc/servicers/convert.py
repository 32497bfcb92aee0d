"""Protobuf messages to and from the job layer's types."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from vlmgrpc.api.vlm.v1 import file_service_pb2 as files_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.errors import ServiceError, invalid
from vlmgrpc.jobs.files import FileRecord
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.store import Event, EventType
from vlmgrpc.jobs.validation import RawInput, Submission
from vlmgrpc.servicers.status import to_rpc_status

STATUS_TO_PB = {s: pb.PredictionStatus.Value(f"PREDICTION_STATUS_{s.name}") for s in Status}
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}
EVENT_TO_PB = {t: pb.PredictionEventType.Value(f"PREDICTION_EVENT_TYPE_{t.name}") for t in EventType}


def _timestamp(value) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def prediction(p: Prediction) -> pb.Prediction:
    msg = pb.Prediction(
        id=p.id, created_at=_timestamp(p.created_at), completed_at=_timestamp(p.completed_at),
        status=STATUS_TO_PB[p.status], domain=p.domain, request_id=p.request_id, model=p.model, batch=p.batch,
        usage=pb.CreditUsage(elements_processed=p.done, element_type=p.element_type,
                             credits_used=p.credits_used, steps=p.done, duration_seconds=p.duration_seconds),
        progress=pb.Progress(done=p.done, total=p.total), message=p.message, callback_url=p.callback_url,
        request_created_at=_timestamp(p.request_created_at))
    if p.response is not None:
        json_format.ParseDict(p.response, msg.response)
    if p.error:
        msg.error.CopyFrom(to_rpc_status(ServiceError.from_dict(p.error)))
    return msg


def event(e: Event) -> pb.PredictionEvent:
    msg = pb.PredictionEvent(sequence=e.sequence, event_time=_timestamp(e.time), type=EVENT_TO_PB[e.type])
    if e.prediction is not None:
        msg.prediction.CopyFrom(prediction(e.prediction))
    return msg


def event_response(e: Event, response_type):
    """`response_type(event=...)` for an event, built once and shared by all its watchers."""
    msg = e.rendered.get(response_type)
    if msg is None:
        msg = e.rendered[response_type] = response_type(event=event(e))
    return msg


def status_filter(value: int) -> Status | None:
    if value == pb.PREDICTION_STATUS_UNSPECIFIED:
        return None
    if value not in STATUS_FROM_PB:
        raise invalid("INVALID_STATUS", f"unknown status {value}", "status")
    return STATUS_FROM_PB[value]


def _config(req) -> dict[str, Any]:
    if not req.HasField("config"):
        return {}
    try:
        cfg = json_format.MessageToDict(req.config, preserving_proto_field_name=True)
    except (ValueError, json_format.Error) as exc:  # NaN or Infinity in json_schema: not JSON
        raise invalid("INVALID_CONFIG", f"config is not valid JSON: {exc}", "config.json_schema") from None
    if "temperature" in cfg:
        cfg["temperature"] = round(float(cfg["temperature"]), 6)  # float32 on the wire
    return cfg


def _metadata(req) -> dict[str, Any]:
    if not req.HasField("metadata"):
        return {}
    return json_format.MessageToDict(req.metadata, preserving_proto_field_name=True)


def _raw(source) -> RawInput:
    kind = source.WhichOneof("source")
    return RawInput(data=source.data if kind == "data" else None, url=source.url if kind == "url" else None,
                    file_id=source.file_id if kind == "file_id" else None)


def submission(req, owner: str, kind: Kind, *, default_batch: bool, streaming: bool) -> Submission:
    if kind is Kind.IMAGE:
        inputs = [_raw(image) for image in req.images]
    else:
        inputs = [_raw(req.document)] if req.HasField("document") else []
    batch = True if streaming else (req.batch if req.HasField("batch") else default_batch)
    return Submission(
        owner=owner, kind=kind, domain=req.domain, inputs=inputs, batch=batch,
        model=req.model if req.HasField("model") else "vlm-1", request_id=req.id,
        callback_url=req.callback_url if req.HasField("callback_url") else "",
        config=_config(req), metadata=_metadata(req),
        request_created_at=_created_at(req))


def _created_at(req):
    if not req.HasField("created_at"):
        return None
    try:
        return req.created_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise invalid("INVALID_TIMESTAMP", f"created_at is not a valid time: {exc}", "created_at") from None


def file(record: FileRecord) -> files_pb.File:
    return files_pb.File(id=record.id, filename=record.filename, bytes=record.bytes,
                         created_at=_timestamp(record.created_at), object="file", purpose=record.purpose,
                         content_type=record.content_type, sha256=record.sha256,
                         detected_type=record.detected_type)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg
