"""A small Python client for vlm-grpc: generated stubs plus helpers for uploads and rich errors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vlmgrpc.api.vlm.v1 import (
    document_service_pb2_grpc,
    file_service_pb2,
    file_service_pb2_grpc,
    hub_service_pb2_grpc,
    image_service_pb2_grpc,
    model_service_pb2_grpc,
    prediction_pb2,
    prediction_service_pb2_grpc,
)

CHUNK = 1024 * 1024


class _Bearer:
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str):
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details):
        metadata = list(details.metadata or ()) + [self.header]
        return details._replace(metadata=grpc.aio.Metadata(*metadata))


# grpc.aio files each interceptor under one call shape only, so one class per shape.
class _BearerUnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _BearerUnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _BearerStreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self._details(details), request_iterator)


def _bearer(token: str) -> list:
    return [cls(token) for cls in (_BearerUnaryUnary, _BearerUnaryStream, _BearerStreamUnary)]


class Client:
    """Stubs of every service on one aio channel (with a bearer token when given)."""

    def __init__(self, target: str, *, token: str = "", max_message_bytes: int = 64 * 1024 * 1024):
        self.channel = grpc.aio.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes)], interceptors=_bearer(token) if token else None)
        self.images = image_service_pb2_grpc.ImageServiceStub(self.channel)
        self.documents = document_service_pb2_grpc.DocumentServiceStub(self.channel)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.files = file_service_pb2_grpc.FileServiceStub(self.channel)
        self.hub = hub_service_pb2_grpc.HubServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def upload(self, data: bytes, filename: str, content_type: str = "application/octet-stream",
                     chunk_size: int = CHUNK) -> file_service_pb2.File:
        response = await self.files.UploadFile(upload_messages(data, filename, content_type, chunk_size))
        return response.file


def upload_messages(data: bytes, filename: str, content_type: str,
                    chunk_size: int = CHUNK) -> Iterator[file_service_pb2.UploadFileRequest]:
    yield file_service_pb2.UploadFileRequest(metadata=file_service_pb2.UploadFileMetadata(
        filename=filename, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type))
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        yield file_service_pb2.UploadFileRequest(chunk=bytes(view[start:start + chunk_size]))


def response(prediction: prediction_pb2.Prediction) -> Any:
    """The prediction's answer as plain JSON values, integers as ints: a protobuf Struct holds every number
    as a double, so json_format alone turns a page_index of 0 into 0.0 (and it would fail an "integer"
    schema). A whole number is an int here, which every JSON Schema "number" accepts too."""
    if not prediction.HasField("response"):
        return None
    return _ints(json_format.MessageToDict(prediction.response))


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def error_reason(err: grpc.aio.AioRpcError | grpc.RpcError) -> tuple[str, list[tuple[str, str]]]:
    """The ErrorInfo reason and BadRequest field violations of a failed call."""
    try:
        status = rpc_status.from_call(err) if not isinstance(err, grpc.aio.AioRpcError) else _aio_status(err)
    except ValueError:  # the details do not match the call's code: not a status of ours
        status = None
    reason, violations = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
    return reason, violations


def _aio_status(err: grpc.aio.AioRpcError):
    from google.rpc import status_pb2

    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None


