"""The channel and the calls under the facade, sync and asyncio: bearer token, deadlines, retries, typed
errors. Both flavours share the options and the stubs (grpc's sync and aio stubs are the same classes)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from vlmgrpc_client import errors
from vlmgrpc_client.api.vlm.v1 import (
    document_service_pb2_grpc,
    file_service_pb2_grpc,
    hub_service_pb2_grpc,
    image_service_pb2_grpc,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from vlmgrpc_client.retry import Deadline, RetryPolicy

DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV, TOKEN_ENV = "VLMGRPC_TARGET", "VLMGRPC_TOKEN"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT = object()  # "the client's timeout"


class Settings:
    """Where and how to connect: arguments first, then $VLMGRPC_TARGET / $VLMGRPC_TOKEN, then defaults."""

    def __init__(self, target: str | None = None, *, token: str | None = None, timeout: float | None = 120.0,
                 retry: RetryPolicy | None = None, tls: bool = False, root_certificates: bytes | None = None,
                 options: tuple[tuple[str, Any], ...] = ()):
        self.target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
        self.token = os.environ.get(TOKEN_ENV, "") if token is None else token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.credentials = grpc.ssl_channel_credentials(root_certificates) if tls else None
        self.options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *options]
        self.metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def timeout_of(self, timeout: Any) -> float | None:
        return self.timeout if timeout is DEFAULT else timeout


class Stubs:
    def __init__(self, channel):
        self.images = image_service_pb2_grpc.ImageServiceStub(channel)
        self.documents = document_service_pb2_grpc.DocumentServiceStub(channel)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.files = file_service_pb2_grpc.FileServiceStub(channel)
        self.hub = hub_service_pb2_grpc.HubServiceStub(channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(channel)


class SyncTransport:
    def __init__(self, settings: Settings):
        self.settings = settings
        s = settings
        self.channel = grpc.secure_channel(s.target, s.credentials, s.options) if s.credentials else \
            grpc.insecure_channel(s.target, s.options)
        self.stubs = Stubs(self.channel)

    def unary(self, method: Callable, request: Any, timeout: Any = DEFAULT, *, retry: bool = True) -> Any:
        """One unary or client-streaming call, retried on UNAVAILABLE. A callable `request` makes a fresh
        request (iterator) for every attempt."""
        deadline = Deadline(self.settings.timeout_of(timeout))

        def attempt():
            message = request() if callable(request) else request
            return method(message, timeout=deadline.remaining(), metadata=self.settings.metadata)

        try:
            return self.settings.retry.retrying(deadline)(attempt) if retry else attempt()
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None

    def stream(self, method: Callable, request: Any, deadline: Deadline) -> Iterator[Any]:
        """A server stream; its errors come out as typed ones."""
        call = method(request, timeout=deadline.remaining(), metadata=self.settings.metadata)
        try:
            yield from call
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None
        finally:
            call.cancel()  # a caller that stopped early leaves no stream open

    def close(self) -> None:
        self.channel.close()


class AsyncTransport:
    """The aio channel is made on first use, inside the event loop that uses it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.channel: grpc.aio.Channel | None = None
        self._stubs: Stubs | None = None

    @property
    def stubs(self) -> Stubs:
        if self._stubs is None:
            s = self.settings
            self.channel = grpc.aio.secure_channel(s.target, s.credentials, s.options) if s.credentials else \
                grpc.aio.insecure_channel(s.target, s.options)
            self._stubs = Stubs(self.channel)
        return self._stubs

    async def unary(self, method: Callable, request: Any, timeout: Any = DEFAULT, *, retry: bool = True) -> Any:
        deadline = Deadline(self.settings.timeout_of(timeout))

        async def attempt():
            message = request() if callable(request) else request
            return await method(message, timeout=deadline.remaining(), metadata=self.settings.metadata)

        try:
            return await (self.settings.retry.async_retrying(deadline)(attempt) if retry else attempt())
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None

    async def stream(self, method: Callable, request: Any, deadline: Deadline) -> AsyncIterator[Any]:
        call = method(request, timeout=deadline.remaining(), metadata=self.settings.metadata)
        try:
            async for message in call:
                yield message
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None
        finally:
            call.cancel()  # a caller that stopped early leaves no stream open

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
