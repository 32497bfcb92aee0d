"""The VLM Run REST API (what the official vlmrun SDK calls), served beside gRPC over the same job layer."""

from vlmgrpc.rest.server import RestServer

__all__ = ["RestServer"]
