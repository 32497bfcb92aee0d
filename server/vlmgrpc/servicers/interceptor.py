"""The gate every RPC passes: bearer-token and client-certificate auth (tenants), per-tenant stream limits,
and requests that fail to parse turned into INVALID_ARGUMENT (gRPC itself would answer INTERNAL).

Who the tenant is, under mutual TLS (the transport has already refused connections without a valid client
certificate): the certificate names a tenant (its CN, or by tls_client_tenants). A bearer token, when tokens
are configured and one is sent, is checked too and must name the same tenant (TENANT_MISMATCH otherwise), so a
leaked token does not cross tenants from another tenant's certificate. A certificate that names no tenant (a
gateway's, say) needs a valid token, which then decides; without tokens configured it is refused."""

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


def load_cert_tenants(pairs: str) -> dict[str, str]:
    """certificate identity -> tenant, from "identity=tenant,..." (validated by Settings)."""
    entries = (pair.partition("=") for pair in pairs.split(",") if pair.strip())
    return {identity.strip(): tenant.strip() for identity, _, tenant in entries}


def cert_identities(auth_context: dict[str, list[bytes]]) -> tuple[str, list[str]]:
    """(subject CN or "", CN and subject alternative names) of the connection's verified client certificate,
    from gRPC's auth context (x509_* properties, set only on a TLS connection)."""
    if auth_context.get("transport_security_type") != [b"ssl"]:
        return "", []
    values = [*auth_context.get("x509_common_name", ()), *auth_context.get("x509_subject_alternative_name", ())]
    names = [value.decode(errors="replace") for value in values]
    common_name = names[0] if auth_context.get("x509_common_name") else ""
    return common_name, [name for name in names if name]


class Gate(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: dict[str, str], max_streams_per_tenant: int,
                 deserializers: dict[str, Callable] | None = None, *,
                 cert_tenants: dict[str, str] | None = None):
        self.tokens = tokens
        # None: no mutual TLS; {}: a client certificate's CN is its tenant; else identity -> tenant.
        self.cert_tenants = cert_tenants
        self.max_streams = max_streams_per_tenant
        self.streams: Counter[str] = Counter()
        # Per-method request parsers that replace the generated ones (full method name -> parser).
        self.deserializers = deserializers or {}

    def open_stream(self, tenant: str) -> None:
        """Count a server stream (gRPC or REST's SSE) against its tenant's quota: TOO_MANY_STREAMS when full."""
        if self.streams[tenant] >= self.max_streams:
            raise exhausted("TOO_MANY_STREAMS", f"at most {self.max_streams} open streams per tenant",
                            max_streams=str(self.max_streams))
        self.streams[tenant] += 1

    def close_stream(self, tenant: str) -> None:
        self.streams[tenant] -= 1
        if self.streams[tenant] <= 0:
            del self.streams[tenant]

    def tenant(self, metadata, auth_context: dict[str, list[bytes]] | None = None) -> str:
        if self.cert_tenants is None:
            return self.token_tenant(metadata) or DEFAULT_TENANT
        common_name, identities = cert_identities(auth_context or {})
        if self.cert_tenants:
            by_cert = next((self.cert_tenants[i] for i in identities if i in self.cert_tenants), None)
        else:
            by_cert = common_name or None
        by_token = self.token_tenant(metadata, required=by_cert is None)
        if by_cert and by_token and by_cert != by_token:
            raise ServiceError(Code.PERMISSION_DENIED, "TENANT_MISMATCH",
                               "the bearer token and the client certificate name different tenants")
        tenant = by_cert or by_token
        if tenant is None:
            raise ServiceError(Code.PERMISSION_DENIED, "CERTIFICATE_NOT_ALLOWED",
                               f"the client certificate ({', '.join(identities) or 'no identity'}) names no tenant")
        return tenant

    def token_tenant(self, metadata, required: bool = True) -> str | None:
        """The bearer token's tenant; None when no tokens are configured, or none was sent and none is
        `required`. A token that is sent is always checked."""
        if not self.tokens:
            return None
        header = dict(metadata or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and not required:
            return None
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
            tenant = DEFAULT_TENANT if open_method else gate.tenant(
                context.invocation_metadata(), context.auth_context() if gate.cert_tenants is not None else None)
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
                gate.open_stream(tenant)
            except ServiceError as err:
                await abort(context, err)
            try:
                async for response in handler.unary_stream(request, context):
                    yield response
            finally:
                gate.close_stream(tenant)

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
