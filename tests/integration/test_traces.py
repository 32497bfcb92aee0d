"""Traces of real predictions: the service runs in this process (so the SDK's InMemorySpanExporter sees its
spans) with the real embedded Triton, whose own spans arrive at a small OTLP/HTTP receiver run by the test."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import TEST_SETTINGS, pdf, text_png
from tests.integration.helpers import status_name, terminal
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc.app import App
from vlmgrpc.observability import tracing
from vlmgrpc.settings import Settings
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def json_request(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: the protobuf JSON mapping, except that trace and span ids are hex, not base64."""
    data = json.loads(body)
    for resource_spans in data.get("resourceSpans", data.get("resource_spans", [])):
        for scope in resource_spans.get("scopeSpans", resource_spans.get("scope_spans", [])):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)


class OtlpReceiver:
    """Collects what OTLP/HTTP exporters post to /v1/traces, as (service.name, span) pairs."""

    def __init__(self):
        self.spans: list[tuple[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if "json" in self.headers.get("Content-Type", ""):  # Triton's exporter (opentelemetry-cpp) posts JSON
                    request = json_request(body)
                else:
                    request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    service = next((a.value.string_value for a in resource_spans.resource.attributes
                                    if a.key == "service.name"), "")
                    for scope in resource_spans.scope_spans:
                        receiver.spans.extend((service, span) for span in scope.spans)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
async def traced(tmp_path_factory) -> Iterator[tuple[App, InMemorySpanExporter, OtlpReceiver]]:
    exporter = InMemorySpanExporter()
    receiver = OtlpReceiver()
    tracing.add_exporter(exporter)
    app = App(Settings(data_dir=tmp_path_factory.mktemp("traced"), port=0, **TEST_SETTINGS,
                       otlp_endpoint=receiver.url))
    try:
        await app.start()
        yield app, exporter, receiver
    finally:
        await app.stop()
        tracing.remove_exporter(exporter)
        receiver.close()


def prediction_spans(spans: list[ReadableSpan], prediction_id: str) -> list[ReadableSpan]:
    return [s for s in spans if s.attributes.get("vlm.prediction.id") == prediction_id]


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def wait_spans(exporter: InMemorySpanExporter, predicate, timeout_s: float = 10) -> list[ReadableSpan]:
    for _ in range(int(timeout_s * 10)):
        spans = list(exporter.get_finished_spans())
        if predicate(spans):
            return spans
        await asyncio.sleep(0.1)
    return list(exporter.get_finished_spans())


def assert_one_trace(spans: list[ReadableSpan], prediction_id: str, rpc: str, elements: int) -> ReadableSpan:
    """The RPC span, then the queue and run spans under it, the Triton calls under the run, the terminal
    event last: all in one trace. Returns the run span."""
    (rpc_span,) = [s for s in by_name(spans, rpc) if s.kind is SpanKind.SERVER]
    own = prediction_spans(spans, prediction_id)
    trace_id = rpc_span.context.trace_id
    assert {s.context.trace_id for s in own} == {trace_id}
    (queue,) = by_name(own, "prediction.queue")
    (run,) = by_name(own, "prediction.run")
    (done,) = by_name(own, "prediction.completed")
    assert queue.parent.span_id == run.parent.span_id == rpc_span.context.span_id
    assert done.parent.span_id == run.context.span_id
    tritons = [s for s in spans if s.name == "triton ocr" and s.parent and s.parent.span_id == run.context.span_id]
    assert len(tritons) == elements and all(s.context.trace_id == trace_id for s in tritons)
    assert all(s.kind is SpanKind.CLIENT for s in tritons)
    assert queue.start_time <= run.start_time <= min(t.start_time for t in tritons)
    assert max(t.end_time for t in tritons) <= done.start_time
    return run


async def test_each_prediction_is_one_trace_from_the_rpc_to_its_terminal_event(traced):
    app, exporter, receiver = traced
    async with Client(f"127.0.0.1:{app.port}") as client:
        image = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", images=[pb.ImageInput(data=text_png(["traced image"]))]), timeout=120)
        assert status_name(image.prediction.status) == "completed", image.prediction.error.message
        document = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(3))))
        final = await terminal(client, document.prediction.id)
        assert status_name(final.status) == "completed", final.error.message
    spans = await wait_spans(exporter, lambda s: len(by_name(s, "prediction.run")) >= 2)  # runs end last
    image_run = assert_one_trace(spans, image.prediction.id, "vlm.v1.ImageService/Generate", 1)
    document_run = assert_one_trace(spans, document.prediction.id, "vlm.v1.DocumentService/Generate", 3)
    assert image_run.context.trace_id != document_run.context.trace_id
    # Stored with the prediction, so a run after a restart continues the same trace.
    stored = await app.store.get(document.prediction.id)
    assert stored.traceparent.startswith(f"00-{document_run.context.trace_id:032x}-")

    # Triton recorded its own spans in the same traces, its request spans children of the service's Triton
    # call spans. Triton 2.51 loses the spans of some requests now and then (a run in three or four misses one
    # or two of the four, with every call carrying its traceparent and ending OK): so all are waited for, and
    # at least one, each correctly parented, is required.
    traces = {image_run.context.trace_id, document_run.context.trace_id}
    calls = {s.context.span_id for s in spans if s.name == "triton ocr" and s.context.trace_id in traces}
    for _ in range(100):
        requests = [span for service, span in list(receiver.spans) if service == "vlm-grpc-triton"
                    and span.name == "InferRequest" and int.from_bytes(span.trace_id, "big") in traces]
        if len(requests) >= len(calls):
            break
        await asyncio.sleep(0.1)
    parents = [int.from_bytes(span.parent_span_id, "big") for span in requests]
    assert parents and set(parents) <= calls and len(set(parents)) == len(parents), (parents, calls)
    # The service's own spans reach the OTLP endpoint too (the exporter used outside tests).
    assert await asyncio.to_thread(tracing.flush)
    exported = {span.span_id for service, span in list(receiver.spans) if service == "vlm-grpc"}
    assert document_run.context.span_id.to_bytes(8, "big") in exported


async def test_a_callers_traceparent_is_continued_and_a_cancel_ends_the_trace(traced):
    app, exporter, _ = traced
    caller = (("traceparent", f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"),)
    async with Client(f"127.0.0.1:{app.port}") as client:
        reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(6, scanned=True))), metadata=caller)
        pred_id = reply.prediction.id
        await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred_id))
        await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pred_id))
    spans = await wait_spans(exporter, lambda s: by_name(prediction_spans(s, pred_id), "prediction.failed"))
    (rpc_span,) = [s for s in by_name(spans, "vlm.v1.DocumentService/Generate")
                   if s.context.trace_id == int(CALLER_TRACE, 16)]
    assert rpc_span.parent.span_id == 0x00F067AA0BA902B7 and rpc_span.parent.is_remote
    (failed,) = by_name(prediction_spans(spans, pred_id), "prediction.failed")
    assert failed.context.trace_id == int(CALLER_TRACE, 16)
    assert failed.attributes["vlm.error.reason"] == "CANCELLED"
    # The cancel RPC is a trace of its own; the terminal event still joined the prediction's.
    (cancel,) = by_name(spans, "vlm.v1.PredictionService/CancelPrediction")[-1:]
    assert cancel.context.trace_id != failed.context.trace_id
