"""JSON bodies to and from the job layer's types (the REST twin of servicers/convert.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vlmgrpc.errors import Code, ServiceError, invalid
from vlmgrpc.jobs.callbacks import prediction_json
from vlmgrpc.jobs.files import FileRecord
from vlmgrpc.jobs.model import Kind, Prediction
from vlmgrpc.jobs.records import Event
from vlmgrpc.jobs.validation import RawInput, Submission
from vlmgrpc.pipeline.fetch import decode_data_url
from vlmgrpc.rest import models
from vlmgrpc.rest.uploads import FILE_ID_RE

THREAD_JSON_BYTES = 256 * 1024  # bodies above this are parsed in a thread: json.loads of megabytes stalls the loop
JSON_TYPES = ("application/json", "application/*+json")
MAX_BODY = web.AppKey("max_body", int)  # rest_max_body_bytes, also the application's client_max_size


def prediction(pred: Prediction) -> dict[str, Any]:
    """The VLM Run PredictionResponse (what callbacks carry too), plus this service's own fields."""
    out = prediction_json(pred)
    out.update(model=pred.model, batch=pred.batch, request_id=pred.request_id or None,
               progress={"done": pred.done, "total": pred.total})
    return out


def file(record: FileRecord, md5: str | None = None) -> dict[str, Any]:
    return {"id": record.id, "filename": record.filename, "bytes": record.bytes, "purpose": record.purpose,
            "created_at": record.created_at.isoformat(), "object": "file", "public_url": None,
            "content_type": record.content_type or None, "sha256": record.sha256, "md5": md5,
            "detected_type": record.detected_type or None}


def event(e: Event) -> dict[str, Any]:
    delta = None
    if e.delta is not None:
        d = e.delta
        delta = {"element_index": d.element_index, "text": d.text, "offset": d.offset, "attempt": d.attempt}
    return {"sequence": e.sequence, "type": e.type.value, "time": e.time.isoformat(),
            "prediction": prediction(e.prediction) if e.prediction is not None else None, "delta": delta}


async def dumps(payload: Any, heavy: bool) -> str:
    """JSON text; in a thread when it carries responses (a document of hundreds of pages)."""
    def text() -> str:
        return json.dumps(payload, separators=(",", ":"), default=str)

    return await asyncio.to_thread(text) if heavy else text()


async def json_response(payload: Any, *, status: int = 200, heavy: bool = False) -> web.Response:
    return web.Response(text=await dumps(payload, heavy), status=status, content_type="application/json")


async def read_json(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The request body as `model`: JSON only (415 otherwise), an object, with its fields' types checked."""
    if request.content_type not in JSON_TYPES and not (request.content_type == "application/octet-stream"
                                                       and "Content-Type" not in request.headers):
        raise web.HTTPUnsupportedMediaType(text=f"send the body as application/json, not {request.content_type}")
    limit = request.app[MAX_BODY]
    if (request.content_length or 0) > limit:  # refused before a byte of it is read
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    raw = await request.read()  # bounded by the application's client_max_size (rest_max_body_bytes): 413
    try:
        data = await asyncio.to_thread(json.loads, raw) if len(raw) > THREAD_JSON_BYTES else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("INVALID_JSON", f"the body is not valid JSON: {exc}", "body") from None
    return validate(model, data)


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    if not isinstance(data, dict):
        raise invalid("INVALID_JSON", "the body must be a JSON object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        violations = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()[:10]]
        first = violations[0]
        raise ServiceError(Code.INVALID_ARGUMENT, "INVALID_REQUEST", f"{first[0]}: {first[1]}", {},
                           violations) from None


def _image_input(value: str, index: int, max_bytes: int) -> RawInput:
    where = f"images[{index}]"
    if value.startswith("data:"):
        return RawInput(data=decode_data_url(value, max_bytes, where))
    if value.startswith(("http://", "https://")):
        return RawInput(url=value)
    if FILE_ID_RE.match(value):
        return RawInput(file_id=value)
    if len(value) * 3 // 4 > max_bytes:
        raise invalid("INPUT_TOO_LARGE", f"{where} holds more than {max_bytes} bytes", where)
    try:
        return RawInput(data=base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise invalid("INVALID_IMAGE", f"{where} is neither a data: URL, an http(s) URL, a file id nor base64",
                      where) from None


async def submission(req: models.ImageGenerateRequest | models.DocumentGenerateRequest, owner: str, kind: Kind,
                     *, max_image_bytes: int, idempotency_key: str = "") -> Submission:
    if isinstance(req, models.ImageGenerateRequest):
        def decode() -> list[RawInput]:
            return [_image_input(v, i, max_image_bytes) for i, v in enumerate(req.images)]

        big = sum(len(v) for v in req.images) > THREAD_JSON_BYTES
        inputs = await asyncio.to_thread(decode) if big else decode()
    else:
        inputs = [RawInput(url=req.url or None, file_id=req.file_id or None)] if req.url or req.file_id else []
    config = req.config.model_dump(exclude_none=True) if req.config else {}
    metadata = req.metadata.model_dump(exclude_none=True) if req.metadata else {}
    return Submission(owner=owner, kind=kind, domain=req.domain, inputs=inputs,
                      batch=True if req.stream else req.batch, model=req.model or "",
                      request_id=req.id or idempotency_key, callback_url=req.callback_url or "",
                      config=config, metadata=metadata, request_created_at=_utc(req.created_at))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
