"""Who is calling over REST: the same tenants, tokens and client certificates as gRPC, decided by the gRPC
gate itself (servicers/interceptor.py), so a prediction made on one protocol is the same tenant's on the other."""

from __future__ import annotations

from aiohttp import web

from vlmgrpc.servicers.context import DEFAULT_TENANT
from vlmgrpc.servicers.interceptor import Gate


def auth_context(request: web.Request) -> dict[str, list[bytes]]:
    """The TLS peer certificate (verified by the handshake under mutual TLS) as gRPC's auth context."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if transport is None or transport.get_extra_info("sslcontext") is None:
        return {}
    context: dict[str, list[bytes]] = {"transport_security_type": [b"ssl"]}
    if cert:
        names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
        if names:
            context["x509_common_name"] = [names[0].encode()]
        alternatives = [value for _, value in cert.get("subjectAltName", ())]
        if alternatives:
            context["x509_subject_alternative_name"] = [v.encode() for v in alternatives]
    return context


def _metadata(request: web.Request) -> list[tuple[str, str]]:
    header = request.headers.get("Authorization", "")
    return [("authorization", header)] if header else []


def tenant(gate: Gate, request: web.Request) -> str:
    """The caller's tenant; raises UNAUTHENTICATED (401) or PERMISSION_DENIED (403) as the gate does."""
    if gate.cert_tenants is None:
        return gate.token_tenant(_metadata(request)) or DEFAULT_TENANT
    return gate.tenant(_metadata(request), auth_context(request))


def check_sent_token(gate: Gate, request: web.Request) -> None:
    """Health is open, but a token that is sent is checked: the SDK's constructor validates its key with it."""
    if gate.tokens and "Authorization" in request.headers:
        gate.token_tenant(_metadata(request))
