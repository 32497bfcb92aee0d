"""Generate requests from the facade's arguments (shared by the sync and asyncio clients). Every submission
gets a request id, the caller's or a fresh UUID4, so that retrying it is safe: the server answers a repeated
id with the prediction it already made."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vlmgrpc_client import convert
from vlmgrpc_client.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc_client.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client.errors import InputError
from vlmgrpc_client.inputs import classify, image_input
from vlmgrpc_client.types import GenerationConfig


def _common(request: Any, *, domain: str, model: str | None, config: Any, metadata: Any,
            callback_url: str | None, request_id: str | None) -> Any:
    if not domain:
        raise InputError("a domain is required (e.g. document.ocr)", reason="MISSING_DOMAIN")
    request.id = request_id or str(uuid.uuid4())
    request.domain = domain
    request.created_at.CopyFrom(convert.timestamp(datetime.now(UTC)))
    if model is not None:
        request.model = model
    if callback_url is not None:
        request.callback_url = callback_url
    if (cfg := convert.config_message(config)) is not None:
        request.config.CopyFrom(cfg)
    if (meta := convert.metadata_message(metadata)) is not None:
        request.metadata.CopyFrom(meta)
    return request


def image_request(images: Any, urls: Sequence[str] | None, *, stream: bool, batch: bool | None,
                  **common: Any) -> Any:
    items = list(images) if isinstance(images, (list, tuple)) else ([] if images is None else [images])
    items += list(urls or ())
    if not items:
        raise InputError("no images given", reason="NO_IMAGES")
    request = img_pb.ImageServiceGenerateStreamRequest() if stream else img_pb.ImageServiceGenerateRequest()
    request.images.extend(image_input(item) for item in items)
    if batch is not None and not stream:
        request.batch = batch
    return _common(request, **common)


def document_source(file: Any, url: str | None) -> tuple[str, Any]:
    """("data" | "url" | "file_id" | "path", value) of a document; a path is uploaded first."""
    if (file is None) == (url is None):
        raise InputError("give exactly one of file= and url=", reason="NO_DOCUMENT")
    return ("url", url) if url is not None else classify(file)


def document_request(kind: str, value: Any, *, stream: bool, batch: bool | None, **common: Any) -> Any:
    request = doc_pb.DocumentServiceGenerateStreamRequest() if stream else doc_pb.DocumentServiceGenerateRequest()
    request.document.CopyFrom(pb.DocumentInput(**{kind: value}))
    if batch is not None and not stream:
        request.batch = batch
    return _common(request, **common)


def response_model_of(config: Any, response_model: Any) -> Any:
    """The model to validate results into: the call's, else its config's (the SDK's
    GenerationConfig.response_model)."""
    if response_model is not None:
        return response_model
    return config.response_model if isinstance(config, GenerationConfig) else None
