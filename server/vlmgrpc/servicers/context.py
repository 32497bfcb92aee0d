"""Who is calling: the tenant that the interceptor resolved from the bearer token."""

from __future__ import annotations

from contextvars import ContextVar

import grpc

DEFAULT_TENANT = "default"
current_tenant: ContextVar[str] = ContextVar("current_tenant", default=DEFAULT_TENANT)


def caller(context: grpc.aio.ServicerContext) -> str:
    return current_tenant.get()
