"""The observability package on its own: log context, metric helpers, trace context round trips, the flags
that make Triton trace, and the settings."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from pydantic import ValidationError

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.model import utcnow
from vlmgrpc.jobs.records import Event, EventType
from vlmgrpc.observability import logcontext, metrics, tracing
from vlmgrpc.servicers.context import current_tenant
from vlmgrpc.settings import Settings


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    logcontext.install()
    handler = Records()
    logger = logging.getLogger("test.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, handler.records
    logger.removeHandler(handler)


async def test_log_lines_carry_the_prediction_and_tenant_of_the_task_that_runs_it(records):
    logger, seen = records

    async def run() -> None:
        logcontext.bind("p123", "acme")
        logger.info("sending page %d", 2)

    await asyncio.create_task(run())
    logger.info("start-up")  # the task's binding stayed in the task
    inside, outside = seen
    assert (inside.prediction_id, inside.tenant, inside.context) == ("p123", "acme", " [prediction=p123 tenant=acme]")
    assert (outside.prediction_id, outside.tenant, outside.context) == ("", "", "")
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s%(context)s").format(inside)
    assert line == "INFO test.observability: sending page 2 [prediction=p123 tenant=acme]"


async def test_an_rpcs_log_lines_name_the_tenant_the_gate_resolved(records):
    logger, seen = records

    async def rpc() -> None:
        current_tenant.set("globex")  # what the auth gate does for each call
        logger.info("handling")

    await asyncio.create_task(rpc())
    assert seen[-1].context == " [tenant=globex]"


async def test_events_a_lagging_watcher_misses_are_counted_as_dropped():
    bus = EventBus(queue_size=1, heartbeat_s=60)
    before = sample("vlmgrpc_events_dropped_total")
    with bus.subscribe("p1"):
        for sequence in (1, 2, 3):
            bus.publish(Event("p1", sequence, EventType.PROGRESS, utcnow(), None))
    bus.close_all()
    assert sample("vlmgrpc_events_dropped_total") - before == 2  # 1 queued, 2 dropped (then re-read)


async def test_triton_calls_are_counted_by_outcome_and_leave_nothing_in_flight():
    model = "unit-model"

    async def call(error: BaseException | None) -> None:
        with metrics.triton_call(model):
            assert sample("vlmgrpc_triton_requests_in_flight", model=model) == 1
            await asyncio.sleep(0)
            if error is not None:
                raise error

    await call(None)
    with pytest.raises(ServiceError):
        await call(ServiceError(Code.INVALID_ARGUMENT, "INVALID_IMAGE", "not an image"))
    task = asyncio.create_task(call(None))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample("vlmgrpc_triton_requests_total", model=model, outcome="ok") == 1
    assert sample("vlmgrpc_triton_requests_total", model=model, outcome="INVALID_IMAGE") == 1
    assert sample("vlmgrpc_triton_requests_total", model=model, outcome="cancelled") == 1
    assert sample("vlmgrpc_triton_request_duration_seconds_count", model=model) == 3
    assert sample("vlmgrpc_triton_requests_in_flight", model=model) == 0


def test_traces_are_off_unless_configured():
    assert not tracing.configure(Settings())
    assert not tracing.enabled()
    assert tracing.current_traceparent() == ""
    assert tracing.triton_options(Settings())["trace_url"] == ""


def test_a_stored_traceparent_continues_the_trace_it_came_from():
    exporter = InMemorySpanExporter()
    tracing.add_exporter(exporter)
    try:
        assert tracing.configure(Settings(trace_sample_ratio=1.0))
        with tracing.tracer().start_as_current_span("rpc") as rpc:
            stored = tracing.current_traceparent()
        assert stored.startswith(f"00-{rpc.context.trace_id:032x}-{rpc.context.span_id:016x}-")
        tracing.tracer().start_span("later", context=tracing.context_from(stored)).end()
        with tracing.client_span("call", {}) as call:
            metadata = dict(tracing.metadata_for(call))
        assert metadata["traceparent"].startswith(f"00-{call.context.trace_id:032x}-{call.context.span_id:016x}-")
    finally:
        tracing.remove_exporter(exporter)
        tracing.shutdown()
    later = next(s for s in exporter.get_finished_spans() if s.name == "later")
    assert later.context.trace_id == rpc.context.trace_id and later.parent.span_id == rpc.context.span_id


def test_an_unsampled_trace_sends_no_context_downstream():
    exporter = InMemorySpanExporter()
    tracing.add_exporter(exporter)
    try:
        tracing.configure(Settings(trace_sample_ratio=0.0))
        with tracing.client_span("call", {}) as call:
            assert tracing.metadata_for(call) == ()
    finally:
        tracing.remove_exporter(exporter)
        tracing.shutdown()
    assert exporter.get_finished_spans() == ()


def test_triton_traces_go_to_the_otlp_http_endpoint_or_an_explicit_url():
    http = tracing.triton_options(Settings(otlp_endpoint="http://collector:4318/"))
    assert http == {"trace_url": "http://collector:4318/v1/traces", "trace_service_name": "vlm-grpc-triton"}
    grpc_only = Settings(otlp_endpoint="http://collector:4317", otlp_protocol="grpc")
    assert tracing.triton_options(grpc_only)["trace_url"] == ""  # Triton speaks only OTLP/HTTP
    explicit = Settings(otlp_endpoint="http://collector:4317", otlp_protocol="grpc",
                        otlp_triton_url="http://collector:4318/v1/traces")
    assert tracing.triton_options(explicit)["trace_url"] == "http://collector:4318/v1/traces"
    off = Settings(otlp_endpoint="http://collector:4318", trace_triton=False)
    assert tracing.triton_options(off)["trace_url"] == ""


def test_embedded_triton_is_started_in_opentelemetry_mode_for_propagated_contexts_only(tmp_path):
    traced = EmbeddedTriton(tmp_path, tmp_path / "w", trace_url="http://c:4318/v1/traces", trace_service_name="s")
    command = traced._command()
    for flag in ("--trace-config=mode=opentelemetry", "--trace-config=rate=0",
                 "--trace-config=opentelemetry,url=http://c:4318/v1/traces",
                 "--trace-config=opentelemetry,resource=service.name=s"):
        assert flag in command
    assert not any(a.startswith("--trace-config") for a in EmbeddedTriton(tmp_path, tmp_path / "w")._command())


def test_metrics_settings():
    assert Settings().metrics_port == 0  # no endpoint unless asked for
    with pytest.raises(ValidationError):
        Settings(metrics_port=70000)
    with pytest.raises(ValidationError):
        Settings(trace_sample_ratio=1.5)
