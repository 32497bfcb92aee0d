"""OpenTelemetry traces: one trace per prediction, from the RPC that submitted it, through the queue and the
worker's run, each Triton request (whose own spans Triton records under it), to the terminal event.

The service keeps its own TracerProvider rather than the global one, so traces are off (no-op spans, no
exporter) unless `otlp_endpoint` is set, and tests can add an in-memory exporter (`add_exporter`). A prediction
outlives its RPC, and a restart: the submitting RPC's context is stored with it as a W3C `traceparent` string
and every later span of the prediction continues from that.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from vlmgrpc.settings import Settings

log = logging.getLogger(__name__)

TRACER_NAME = "vlmgrpc"
PROPAGATOR = TraceContextTextMapPropagator()  # W3C traceparent/tracestate, what Triton reads

_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()
_extra_exporters: list[SpanExporter] = []
_to_triton = False


def add_exporter(exporter: SpanExporter) -> None:
    """Also send every span to `exporter` (synchronously), and trace even without an otlp_endpoint: the hook
    tests use with the SDK's InMemorySpanExporter. Call before `configure`."""
    _extra_exporters.append(exporter)


def remove_exporter(exporter: SpanExporter) -> None:
    """Undo `add_exporter` (takes effect at the next `configure`)."""
    if exporter in _extra_exporters:
        _extra_exporters.remove(exporter)


def configure(settings: Settings) -> bool:
    """Set up the tracer provider from the settings (OTLP exporter only when an endpoint is configured);
    True if traces are on."""
    global _provider, _tracer, _to_triton
    shutdown()
    _to_triton = settings.trace_triton
    if not settings.otlp_endpoint and not _extra_exporters:
        return False
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.trace_service_name}),
                              sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)))
    if settings.otlp_endpoint:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
    for exporter in _extra_exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer(TRACER_NAME)
    log.info("traces on: OTLP %s to %s, sampling %.0f%% of new traces", settings.otlp_protocol,
             settings.otlp_endpoint or "(no endpoint)", 100 * settings.trace_sample_ratio)
    return True


def _otlp_exporter(settings: Settings) -> SpanExporter:
    endpoint = settings.otlp_endpoint.rstrip("/")
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint + "/v1/traces")


def flush(timeout_s: float = 10.0) -> bool:
    """Export every ended span now (blocks: call it in a thread)."""
    return _provider.force_flush(int(timeout_s * 1000)) if _provider is not None else True


def shutdown() -> None:
    """Export what is buffered and turn traces off."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = None, trace.NoOpTracer()


def enabled() -> bool:
    return _provider is not None


def propagate_to_triton() -> bool:
    """Whether traced Triton requests carry their trace context (settings.trace_triton)."""
    return _to_triton


def tracer() -> trace.Tracer:
    return _tracer


def triton_options(settings: Settings) -> dict[str, str]:
    """EmbeddedTriton's trace options: where Triton exports its own spans (OTLP/HTTP, the only transport it has)
    and under what service name; no URL (Triton traces nothing) when traces or trace_triton are off."""
    url = settings.otlp_triton_url
    if not url and settings.otlp_protocol == "http/protobuf" and settings.otlp_endpoint:
        url = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    on = settings.trace_triton and bool(settings.otlp_endpoint)
    return {"trace_url": url if on else "", "trace_service_name": f"{settings.trace_service_name}-triton"}


def current_traceparent() -> str:
    """The current span's context as a W3C traceparent ('' when there is none): stored with a prediction."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


def context_from(traceparent: str) -> otel_context.Context | None:
    """The context a stored traceparent names, to parent a prediction's later spans; None: a new trace."""
    if not traceparent:
        return None
    return PROPAGATOR.extract({"traceparent": traceparent})


def context_from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> otel_context.Context | None:
    """A caller's trace context from its gRPC metadata (traceparent, tracestate), if it sent one."""
    carrier = {key: value for key, value in metadata or () if key in ("traceparent", "tracestate")
               and isinstance(value, str)}
    return PROPAGATOR.extract(carrier) if carrier else None


@contextlib.contextmanager
def client_span(name: str, attributes: dict[str, str | int]) -> Iterator[trace.Span]:
    """A span for a call to another service, child of the current one. It is not made current (the caller may
    be an async generator, which must not attach a context across its yields): pass it to `metadata_for`."""
    if _provider is None:
        yield trace.INVALID_SPAN
        return
    span = _tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
    try:
        yield span
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(trace.StatusCode.ERROR, str(exc)[:200])
        raise
    finally:
        span.end()


def metadata_for(span: trace.Span) -> tuple[tuple[str, str], ...]:
    """gRPC metadata (traceparent) that makes the callee's spans children of `span`; empty if not recorded."""
    if not span.is_recording():
        return ()
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return tuple(carrier.items())
