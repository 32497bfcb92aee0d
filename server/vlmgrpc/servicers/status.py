"""The one place where errors become gRPC statuses: google.rpc.Status with ErrorInfo (stable
reason) and BadRequest field violations, sent as grpc-status-details-bin (AIP-193)."""

from __future__ import annotations

import functools
import inspect
import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from vlmgrpc.errors import ERROR_DOMAIN, Code, ServiceError

log = logging.getLogger(__name__)


def to_rpc_status(err: ServiceError) -> status_pb2.Status:
    status = status_pb2.Status(code=int(err.code), message=f"{err.reason}: {err.message}")
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN, metadata=err.metadata))
    status.details.append(info)
    if err.violations:
        bad = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in err.violations])
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return status


async def abort(context: grpc.aio.ServicerContext, err: ServiceError) -> None:
    await context.abort_with_status(rpc_status.to_status(to_rpc_status(err)))


def _internal(exc: BaseException) -> ServiceError:
    log.exception("unexpected error in a handler")
    return ServiceError(Code.INTERNAL, "INTERNAL", "internal error; the server logged the details")


def handle_errors(method):
    """Turn ServiceError (and any bug) raised by a handler into a rich gRPC status."""
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream_wrapper(self, request, context):
            try:
                async for item in method(self, request, context):
                    yield item
            except ServiceError as err:
                await abort(context, err)
            except Exception as exc:  # noqa: BLE001 - any bug becomes INTERNAL, with a log line
                await abort(context, _internal(exc))
        return stream_wrapper

    @functools.wraps(method)
    async def unary_wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ServiceError as err:
            await abort(context, err)
        except Exception as exc:  # noqa: BLE001
            await abort(context, _internal(exc))
    return unary_wrapper


assert code_pb2.INVALID_ARGUMENT == Code.INVALID_ARGUMENT  # our Code mirrors google.rpc.Code
