"""The low-level client: the generated aio stubs of every service on one channel, and helpers for uploads
and rich errors. The tests and benchmarks use it with request messages of their own; the facade
(VLMClient, AsyncVLMClient) is the friendlier way in."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import json_format

from vlmgrpc_client import convert, errors
from vlmgrpc_client.api.vlm.v1 import (
    document_service_pb2_grpc,
    file_service_pb2,
    file_service_pb2_grpc,
    hub_service_pb2_grpc,
    image_service_pb2_grpc,
    model_service_pb2_grpc,
    prediction_pb2,
    prediction_service_pb2_grpc,
)
from vlmgrpc_client.inputs import CHUNK


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
    return convert.json_value(json_format.MessageToDict(prediction.response))


def error_reason(err: grpc.aio.AioRpcError | grpc.RpcError) -> tuple[str, list[tuple[str, str]]]:
    """The ErrorInfo reason and BadRequest field violations of a failed call."""
    reason, _, _, violations = errors.details(errors.call_status(err))
    return reason, [(v.field, v.description) for v in violations]
