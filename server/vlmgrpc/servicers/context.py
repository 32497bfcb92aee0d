"""Who is calling. Until bearer-token tenants exist, every caller is the one tenant 'default'."""

from __future__ import annotations

import grpc

DEFAULT_TENANT = "default"


def caller(context: grpc.aio.ServicerContext) -> str:
    return DEFAULT_TENANT
