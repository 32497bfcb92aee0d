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
# TLS: "1" (or true, yes) for TLS with the system's trusted CAs; the others name PEM files (any of them: TLS).
TLS_ENV, CA_CERT_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV, SERVER_NAME_ENV = (
    "VLMGRPC_TLS", "VLMGRPC_CA_CERT", "VLMGRPC_CLIENT_CERT", "VLMGRPC_CLIENT_KEY", "VLMGRPC_TLS_SERVER_NAME")
Pem = bytes | str | os.PathLike  # PEM bytes, or the path of a PEM file
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT = object()  # "the client's timeout"


def _pem(value: Pem | None, env: str) -> bytes | None:
    if value is None:
        value = os.environ.get(env) or None
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as file:
        return file.read()


class Settings:
    """Where and how to connect: arguments first, then $VLMGRPC_TARGET / $VLMGRPC_TOKEN (and the TLS ones
    above), then defaults. TLS is on with `tls=True` or any certificate; `root_certificates` the CAs that
    the server's certificate must chain to (default: the system's), `certificate_chain` and `private_key` the
    client certificate for mutual TLS, `server_name` the name to check the server's certificate against
    when it is not the target's host."""

    def __init__(self, target: str | None = None, *, token: str | None = None, timeout: float | None = 120.0,
                 retry: RetryPolicy | None = None, tls: bool | None = None, root_certificates: Pem | None = None,
                 certificate_chain: Pem | None = None, private_key: Pem | None = None,
                 server_name: str | None = None, options: tuple[tuple[str, Any], ...] = ()):
        self.target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
        self.token = os.environ.get(TOKEN_ENV, "") if token is None else token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.credentials, tls_options = self._tls(tls, root_certificates, certificate_chain, private_key,
                                                  server_name)
        self.options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *tls_options, *options]
        self.metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()

    @staticmethod
    def _tls(tls: bool | None, root: Pem | None, chain: Pem | None, key: Pem | None,
             server_name: str | None) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, Any]]]:
        if tls is False:
            if root is not None or chain is not None or key is not None:
                raise ValueError("certificates were given with tls=False")
            return None, []
        root, chain, key = _pem(root, CA_CERT_ENV), _pem(chain, CLIENT_CERT_ENV), _pem(key, CLIENT_KEY_ENV)
        if (chain is None) != (key is None):
            raise ValueError("a client certificate needs its private key, and a key its certificate")
        wanted = os.environ.get(TLS_ENV, "").lower() in ("1", "true", "yes")
        if not (tls or wanted or root or chain):
            return None, []
        name = server_name or os.environ.get(SERVER_NAME_ENV)
        return (grpc.ssl_channel_credentials(root, key, chain),
                [("grpc.ssl_target_name_override", name)] if name else [])

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
