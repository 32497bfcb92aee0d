"""The Prometheus endpoint, read after real traffic through the real server and Triton: the counts match what
was done (RPCs by method and code, predictions by domain, model and status, Triton requests, upload bytes,
watch streams, events)."""

from __future__ import annotations

import socket

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error, status_name, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration

IMAGE_GENERATE = "/vlm.v1.ImageService/Generate"
WATCH = "/vlm.v1.PredictionService/WatchPrediction"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("metrics"), **TEST_SETTINGS, metrics_port=free_port())
    srv.metrics_url = f"http://127.0.0.1:{srv.settings['metrics_port']}/metrics"
    srv.start()
    yield srv
    srv.stop()


async def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the endpoint: (name, labels) -> value."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(url, timeout=10)).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_counts_follow_real_traffic(metered):
    before = await scrape(metered.metrics_url)
    document = pdf(2)
    async with Client(metered.target) as client:
        for words in (["first image"], ["second image"]):
            reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
                domain="document.ocr", images=[pb.ImageInput(data=text_png(words))]), timeout=120)
            assert status_name(reply.prediction.status) == "completed", reply.prediction.error.message
        file_id = (await client.upload(document, "two-pages.pdf", "application/pdf")).id
        reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.markdown", document=pb.DocumentInput(file_id=file_id), batch=False), timeout=120)
        assert status_name(reply.prediction.status) == "completed", reply.prediction.error.message
        code, _, _ = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="no.such-domain", images=[pb.ImageInput(data=text_png(["x"]))])))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        events = await watch_all(client, reply.prediction.id, after=0)
    after = await scrape(metered.metrics_url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("vlmgrpc_rpcs_handled_total", method=IMAGE_GENERATE, code="OK") == 2
    assert grew("vlmgrpc_rpcs_handled_total", method=IMAGE_GENERATE, code="INVALID_ARGUMENT") == 1
    assert grew("vlmgrpc_rpcs_handled_total", method="/vlm.v1.DocumentService/Generate", code="OK") == 1
    assert grew("vlmgrpc_rpcs_handled_total", method="/vlm.v1.FileService/UploadFile", code="OK") == 1
    assert grew("vlmgrpc_rpcs_handled_total", method=WATCH, code="OK") == 1
    assert grew("vlmgrpc_rpc_duration_seconds_count", method=IMAGE_GENERATE) == 3
    assert grew("vlmgrpc_predictions_finished_total", domain="document.ocr", model="ocr", status="completed") == 2
    assert grew("vlmgrpc_predictions_finished_total", domain="document.markdown", model="ocr",
                status="completed") == 1
    assert grew("vlmgrpc_prediction_duration_seconds_count", domain="document.markdown", model="ocr",
                status="completed") == 1
    assert grew("vlmgrpc_prediction_queue_seconds_count", domain="document.ocr", model="ocr") == 2
    # One Triton request per image and per page; none left in flight.
    assert grew("vlmgrpc_triton_requests_total", model="ocr", outcome="ok") == 4
    assert grew("vlmgrpc_triton_request_duration_seconds_count", model="ocr") == 4
    assert value(after, "vlmgrpc_triton_requests_in_flight", model="ocr") == 0
    assert grew("vlmgrpc_upload_bytes_total") >= len(document)
    assert grew("vlmgrpc_events_delivered_total", method=WATCH) == len(events) > 0
    assert value(after, "vlmgrpc_queue_depth") == 0 and value(after, "vlmgrpc_predictions_running") == 0
    assert value(after, "vlmgrpc_watch_streams_open") == 0


async def test_an_open_watch_is_counted_until_it_closes_and_a_cancel_counts_as_failed(metered):
    async with Client(metered.target) as client:
        reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(6, scanned=True))))
        pred_id = reply.prediction.id
        paused = await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred_id))
        assert status_name(paused.prediction.status) == "paused"
        before = await scrape(metered.metrics_url)
        call = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred_id), timeout=60)
        await call.read()  # the snapshot: the stream is open
        assert value(await scrape(metered.metrics_url), "vlmgrpc_watch_streams_open") == 1
        call.cancel()
        await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pred_id))
        after = await scrape(metered.metrics_url)
    assert value(after, "vlmgrpc_watch_streams_open") == 0
    cancelled = ("vlmgrpc_rpcs_handled_total", frozenset({"method": WATCH, "code": "CANCELLED"}.items()))
    assert after.get(cancelled, 0) - before.get(cancelled, 0) == 1
    failed = ("vlmgrpc_predictions_finished_total",
              frozenset({"domain": "document.ocr", "model": "ocr", "status": "failed"}.items()))
    assert after.get(failed, 0) - before.get(failed, 0) == 1
