"""Error paths through the real server: TOO_MANY_IMAGES, RESUME_POINT_IN_FUTURE, the queue's slots when a waiting
prediction is paused or cancelled (no false QUEUE_FULL, resume queues it once), and a Triton that stops answering
(TRITON_TIMEOUT for the running prediction, MODEL_NOT_READY for new ones)."""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error, status_name, terminal, wait_for, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration
QUEUE = 3
REQUEST_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("errors"), **TEST_SETTINGS, workers=1, queue_size=QUEUE,
                        max_images_per_request=2, triton_request_timeout_s=REQUEST_TIMEOUT_S,
                        health_poll_s=0.2).start()
    yield srv
    srv.stop()


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


def _reason(status) -> str:
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def _document(client: Client, pages: int, scanned: bool = True) -> pb.Prediction:
    return (await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=pdf(pages, scanned=scanned))))).prediction


async def test_too_many_images_names_the_field_and_the_limit(client):
    images = [pb.ImageInput(data=text_png([f"image {i}"])) for i in range(3)]
    code, reason, violations = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", batch=True, images=images)))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TOO_MANY_IMAGES")
    assert "images" in [field for field, _ in violations]


async def test_resuming_a_watch_after_the_latest_event_is_out_of_range(client):
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["resume"]))]), timeout=60)
    pred = reply.prediction
    assert status_name(pred.status) == "completed"
    latest = (await watch_all(client, pred.id, after=0))[-1].sequence

    async def watch(after: int) -> None:
        async for _ in client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred.id, after_sequence=after)):
            pass

    code, reason, _ = await rpc_error(watch(latest + 1))
    assert (code, reason) == (grpc.StatusCode.OUT_OF_RANGE, "RESUME_POINT_IN_FUTURE")
    await watch(latest)  # resuming at the latest event is fine: the stream ends OK


async def test_a_paused_or_cancelled_waiting_prediction_gives_its_queue_slot_back(client):
    long = await _document(client, 60)  # holds the only worker while the queue is filled and emptied
    await wait_for(client, long.id, lambda p: status_name(p.status) == "running")
    waiting = [await _document(client, 1, scanned=False) for _ in range(QUEUE)]
    code, reason, _ = await rpc_error(_document(client, 1, scanned=False))
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL")
    paused = (await client.predictions.PausePrediction(ps.PausePredictionRequest(id=waiting[0].id))).prediction
    assert status_name(paused.status) == "paused"
    cancelled = (await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=waiting[1].id))).prediction
    assert status_name(cancelled.status) == "failed"
    later = [await _document(client, 1, scanned=False) for _ in range(2)]  # the two freed slots
    code, reason, _ = await rpc_error(client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=paused.id)))
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL")  # full again, truly
    await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=later[1].id))
    resumed = (await client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=paused.id))).prediction
    assert status_name(resumed.status) == "enqueued"
    await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=long.id))
    for pred in (paused, waiting[2], later[0]):
        assert status_name((await terminal(client, pred.id)).status) == "completed"
    events = await watch_all(client, paused.id, after=0)
    changes = [status_name(e.prediction.status) for e in events if e.type == pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED]
    assert changes == ["pending", "enqueued", "paused", "enqueued", "running", "completed"]  # run once


async def _health_is(client: Client, status: int, timeout_s: float = 30) -> None:
    stub = health_pb2_grpc.HealthStub(client.channel)
    async with asyncio.timeout(timeout_s):
        while (await stub.Check(health_pb2.HealthCheckRequest())).status != status:
            await asyncio.sleep(0.1)


async def test_a_triton_that_stops_answering_times_out_the_running_work_and_refuses_new_work(server, client):
    """SIGSTOP: Triton keeps its connections but answers nothing (a hung server, not a dead one)."""
    pred = await _document(client, 30)
    await wait_for(client, pred.id, lambda p: p.progress.done >= 1)
    triton = int((server.data_dir / "triton" / "tritonserver.pid").read_text())
    os.kill(triton, signal.SIGSTOP)
    try:
        final = await terminal(client, pred.id, timeout_s=REQUEST_TIMEOUT_S + 30)
        assert status_name(final.status) == "failed"
        assert final.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], final.error.message
        assert _reason(final.error) == "TRITON_TIMEOUT"
        await _health_is(client, health_pb2.HealthCheckResponse.NOT_SERVING)
        code, reason, _ = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, images=[pb.ImageInput(data=text_png(["not now"]))])))
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "MODEL_NOT_READY")
    finally:
        os.kill(triton, signal.SIGCONT)
    await _health_is(client, health_pb2.HealthCheckResponse.SERVING)
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["Back again"]))]), timeout=60)
    assert status_name(reply.prediction.status) == "completed"
