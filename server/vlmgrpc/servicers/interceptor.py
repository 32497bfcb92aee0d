"""The gate every RPC passes: bearer-token auth (tenants), per-tenant stream limits, and requests
that fail to parse turned into INVALID_ARGUMENT (gRPC itself would answer INTERNAL)."""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
from google.protobuf.message import DecodeError

from vlmgrpc.errors import Code, ServiceError, exhausted, invalid
from vlmgrpc.servicers.context import DEFAULT_TENANT, current_tenant
from vlmgrpc.servicers.status import abort

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")  # no token needed


class Malformed:
    """Stands in for a request whose bytes did not parse."""

    def __init__(self, error: Exception):
        self.error = error


def _safe(deserializer: Callable | None) -> Callable | None:
    if deserializer is None:
        return None

    def parse(data: bytes):
        try:
            return deserializer(data)
        except (DecodeError, ValueError, UnicodeDecodeError) as exc:
            return Malformed(exc)

    return parse


def load_tokens(pairs: str, path: Path | None) -> dict[str, str]:
    """token -> tenant, from "tok=tenant,..." and/or a file of such lines ('#' comments)."""
    lines = [p for p in pairs.split(",") if p.strip()]
    if path:
        lines += [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    tokens = {}
    for line in lines:
        token, sep, tenant = line.strip().partition("=")
        if not sep or not token or not tenant:
            raise ValueError(f"auth token entries are token=tenant, got {line.strip()!r}")
        tokens[token.strip()] = tenant.strip()
    return tokens


class Gate(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: dict[str, str], max_streams_per_tenant: int,
                 deserializers: dict[str, Callable] | None = None):
        self.tokens = tokens
        self.max_streams = max_streams_per_tenant
        self.streams: Counter[str] = Counter()
        # Per-method request parsers that replace the generated ones (full method name -> parser).
        self.deserializers = deserializers or {}

    def tenant(self, metadata) -> str:
        if not self.tokens:
            return DEFAULT_TENANT
        header = dict(metadata or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ServiceError(Code.UNAUTHENTICATED, "MISSING_TOKEN", "send 'authorization: Bearer <token>'")
        for known, tenant in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return tenant
        raise ServiceError(Code.UNAUTHENTICATED, "INVALID_TOKEN", "the bearer token is not valid")

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        open_method = details.method.startswith(OPEN_PREFIXES)
        gate = self

        async def admit(request, context) -> str:
            tenant = DEFAULT_TENANT if open_method else gate.tenant(context.invocation_metadata())
            if isinstance(request, Malformed):
                raise invalid("MALFORMED_REQUEST", f"the request message does not parse: {request.error}")
            current_tenant.set(tenant)
            return tenant

        async def checked(requests: AsyncIterator) -> AsyncIterator:
            async for request in requests:
                if isinstance(request, Malformed):
                    raise invalid("MALFORMED_REQUEST", f"a request message does not parse: {request.error}")
                yield request

        async def unary_unary(request, context):
            try:
                await admit(request, context)
            except ServiceError as err:
                await abort(context, err)
            return await handler.unary_unary(request, context)

        async def stream_unary(requests, context):
            try:
                await admit(None, context)
            except ServiceError as err:
                await abort(context, err)
            return await handler.stream_unary(checked(requests), context)

        async def unary_stream(request, context):
            try:
                tenant = await admit(request, context)
                if gate.streams[tenant] >= gate.max_streams:
                    raise exhausted("TOO_MANY_STREAMS", f"at most {gate.max_streams} open streams per tenant",
                                    max_streams=str(gate.max_streams))
            except ServiceError as err:
                await abort(context, err)
            gate.streams[tenant] += 1
            try:
                async for response in handler.unary_stream(request, context):
                    yield response
            finally:
                gate.streams[tenant] -= 1
                if gate.streams[tenant] <= 0:
                    del gate.streams[tenant]

        behaviours = {"unary_unary": unary_unary, "stream_unary": stream_unary, "unary_stream": unary_stream}
        flags = (handler.request_streaming, handler.response_streaming)
        kind = "_".join("stream" if streaming else "unary" for streaming in flags)
        if kind not in behaviours:  # no bidi methods in vlm.v1; reflection's is open and passed through
            return handler
        if open_method and kind == "unary_stream":
            return handler  # health Watch: no token, no stream quota
        deserializer = self.deserializers.get(details.method, handler.request_deserializer)
        return handler._replace(request_deserializer=_safe(deserializer),
                                **{kind: behaviours[kind]})
