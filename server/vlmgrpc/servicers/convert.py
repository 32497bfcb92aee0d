"""Protobuf messages to and from the job layer's types."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from vlmgrpc.api.vlm.v1 import file_service_pb2 as files_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps_pb
from vlmgrpc.errors import ServiceError, invalid
from vlmgrpc.jobs.files import FileRecord
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.records import Event, EventType
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


def prediction(p: Prediction, into: pb.Prediction | None = None) -> pb.Prediction:
    """The prediction as a message, filled in place into `into` when given: a large response
    (a Struct of hundreds of pages) is then built once, not copied into its parent."""
    msg = pb.Prediction() if into is None else into
    msg.id, msg.status, msg.domain, msg.request_id = p.id, STATUS_TO_PB[p.status], p.domain, p.request_id
    msg.model, msg.batch, msg.message, msg.callback_url = p.model, p.batch, p.message, p.callback_url
    for field, value in (("created_at", p.created_at), ("completed_at", p.completed_at),
                         ("request_created_at", p.request_created_at)):
        if value is not None:
            getattr(msg, field).FromDatetime(value)
    msg.usage.elements_processed, msg.usage.element_type = p.done, p.element_type
    msg.usage.credits_used, msg.usage.steps, msg.usage.duration_seconds = p.credits, p.steps, p.duration_seconds
    msg.usage.output_tokens = p.output_tokens
    msg.progress.done, msg.progress.total = p.done, p.total
    if p.response is not None:
        json_format.ParseDict(p.response, msg.response)
    if p.error:
        msg.error.CopyFrom(to_rpc_status(ServiceError.from_dict(p.error)))
    return msg


def event(e: Event, into: pb.PredictionEvent | None = None) -> pb.PredictionEvent:
    msg = pb.PredictionEvent() if into is None else into
    msg.sequence, msg.type = e.sequence, EVENT_TO_PB[e.type]
    msg.event_time.FromDatetime(e.time)
    if e.prediction is not None:
        prediction(e.prediction, into=msg.prediction)
    if e.delta is not None:
        d, delta = msg.output_delta, e.delta
        d.element_index, d.text, d.offset, d.attempt = delta.element_index, delta.text, delta.offset, delta.attempt
    return msg


def event_response(e: Event, response_type):
    """`response_type(event=...)` for an event, built once and shared by all its watchers."""
    msg = e.rendered.get(response_type)
    if msg is None:
        msg = e.rendered[response_type] = response_type()
        event(e, into=msg.event)
    return msg


# A response (a Struct of hundreds of pages) is converted in a thread: ParseDict of a large one takes tens of
# milliseconds, which would stall every other call on the event loop. Without one, conversion is cheap.

async def prediction_async(p: Prediction) -> pb.Prediction:
    return prediction(p) if p.response is None else await asyncio.to_thread(prediction, p)


async def predictions_async(preds: list[Prediction]) -> list[pb.Prediction]:
    if all(p.response is None for p in preds):
        return [prediction(p) for p in preds]
    return await asyncio.to_thread(lambda: [prediction(p) for p in preds])


def _event_response(e: Event, response_type):
    msg = response_type()
    event(e, into=msg.event)
    return msg


async def event_response_async(e: Event, response_type):
    """event_response, built in a thread when the event carries a response (the terminal event). Stored for
    the other watchers only once complete: none of them ever sees a message half built."""
    if response_type in e.rendered or e.prediction is None or e.prediction.response is None:
        return event_response(e, response_type)
    msg = await asyncio.to_thread(_event_response, e, response_type)
    return e.rendered.setdefault(response_type, msg)


def full_view(value: int) -> bool:
    """Whether a list's `view` asks for responses (UNSPECIFIED is BASIC: AIP-157's default for lists)."""
    if value not in (ps_pb.PREDICTION_VIEW_UNSPECIFIED, ps_pb.PREDICTION_VIEW_BASIC, ps_pb.PREDICTION_VIEW_FULL):
        raise invalid("INVALID_VIEW", f"unknown view {value}", "view")
    return value == ps_pb.PREDICTION_VIEW_FULL


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
    if "json_schema" in cfg:  # a Struct holds every number as a double: maxItems 3 arrives as 3.0
        cfg["json_schema"] = integral(cfg["json_schema"])
    return cfg


def integral(value: Any) -> Any:
    """Whole doubles back to ints, all through a JSON value (JSON does not tell 3 from 3.0; schemas do)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


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
        model=req.model if req.HasField("model") else "", request_id=req.id,
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
