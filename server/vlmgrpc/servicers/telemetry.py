"""The outermost interceptor: every RPC counted by method and final status code and timed, WatchPrediction
calls open, events sent on server streams, UploadFile bytes received; and, with traces on, a server span per
RPC that continues a caller's traceparent.

Spans are made here, not by opentelemetry-instrumentation-grpc's aio interceptor: that one learns the status
only from `context.abort`, and every error of this service goes out through `abort_with_status`, so all its
spans would have read OK. Here the final code is read once, after the call, for the metric and the span alike.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
from opentelemetry import trace

from vlmgrpc.observability import metrics, tracing
from vlmgrpc.servicers.context import current_tenant
from vlmgrpc.servicers.files import UPLOAD_METHOD

WATCH_METHOD = "/vlm.v1.PredictionService/WatchPrediction"
EVENT_STREAM_PREFIX = "/vlm.v1."  # WatchPrediction, GenerateStream: their messages are prediction events
# Status codes that are the server's failure, not the caller's (OpenTelemetry's rule for gRPC server spans).
SERVER_ERRORS = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
                           grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
                           grpc.StatusCode.DATA_LOSS})
_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def _final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    if isinstance(error, (grpc.aio.AbortError, type(None))):
        code = context.code()
        if isinstance(code, int):
            code = _BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
        return code or grpc.StatusCode.OK
    if isinstance(error, BaseException) and not isinstance(error, Exception):
        return grpc.StatusCode.CANCELLED  # the caller went away (asyncio.CancelledError)
    return grpc.StatusCode.UNKNOWN  # what gRPC answers for an exception a handler let out


@contextlib.contextmanager
def _observed(method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
    started = time.perf_counter()
    span_scope = contextlib.nullcontext(trace.INVALID_SPAN)
    if tracing.enabled():
        service, _, name = method.lstrip("/").rpartition("/")
        span_scope = tracing.tracer().start_as_current_span(
            method.lstrip("/"), context=tracing.context_from_metadata(context.invocation_metadata()),
            kind=trace.SpanKind.SERVER, record_exception=False, set_status_on_exception=False,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name})
    with span_scope as span:
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            code = _final_code(context, error)
            metrics.rpc_finished(method, code.name, time.perf_counter() - started)
            if span.is_recording():
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if tenant := current_tenant.get(None):
                    span.set_attribute("vlm.tenant", tenant)
                if code in SERVER_ERRORS:
                    span.set_status(trace.StatusCode.ERROR, code.name)


def _counted(deserializer: Callable | None) -> Callable:
    def parse(data: bytes):
        metrics.UPLOAD_BYTES.inc(len(data))
        return deserializer(data) if deserializer else data

    return parse


class Telemetry(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        watch = method == WATCH_METHOD
        events = metrics.EVENTS_DELIVERED.labels(method) if method.startswith(EVENT_STREAM_PREFIX) else None

        def single(behaviour):
            async def call(request, context):
                with _observed(method, context):
                    return await behaviour(request, context)

            return call

        def streaming(behaviour):
            if not inspect.isasyncgenfunction(behaviour):  # it writes with context.write (grpc_health's Watch)
                return single(behaviour)

            async def call(request, context) -> AsyncIterator:
                if watch:
                    metrics.WATCH_STREAMS.inc()
                try:
                    with _observed(method, context):
                        async for response in behaviour(request, context):
                            if events is not None:
                                events.inc()
                            yield response
                finally:
                    if watch:
                        metrics.WATCH_STREAMS.dec()

            return call

        changes = {}
        for kind, wrap in (("unary_unary", single), ("stream_unary", single), ("unary_stream", streaming),
                           ("stream_stream", streaming)):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                changes[kind] = wrap(behaviour)
        if method == UPLOAD_METHOD:
            changes["request_deserializer"] = _counted(handler.request_deserializer)
        return handler._replace(**changes)
