"""Pause, resume and cancel of real predictions, and a restart that loses nothing."""

from __future__ import annotations

import asyncio
import signal

import grpc
import pytest
from google.protobuf import json_format

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf
from tests.integration.helpers import rpc_error, status_name, terminal, wait_for, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


async def submit_pdf(client: Client, pages: int, request_id: str = "", data: bytes = b"") -> pb.Prediction:
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        id=request_id, domain="document.ocr", document=pb.DocumentInput(data=data or pdf(pages, scanned=True))))
    return reply.prediction


async def test_pause_between_pages_then_resume_at_the_next_page(client):
    pred = await submit_pdf(client, 6)
    await wait_for(client, pred.id, lambda p: p.progress.done >= 1)
    paused = (await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))).prediction
    assert status_name(paused.status) == "paused", status_name(paused.status)
    done_at_pause = paused.progress.done
    assert 1 <= done_at_pause < 6
    await asyncio.sleep(1.5)  # nothing moves while paused
    still = (await client.predictions.GetPrediction(ps.GetPredictionRequest(id=pred.id))).prediction
    assert status_name(still.status) == "paused" and still.progress.done == done_at_pause
    resumed = (await client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pred.id))).prediction
    assert status_name(resumed.status) == "enqueued"
    final = await terminal(client, pred.id)
    assert status_name(final.status) == "completed"
    pages = json_format.MessageToDict(final.response)["pages"]
    assert [p["page_index"] for p in pages] == list(range(6))
    # Every page was processed once: one progress event per page across pause and resume.
    events = await watch_all(client, pred.id, after=0)
    progress = [e.prediction.progress.done for e in events if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
    assert progress == [1, 2, 3, 4, 5, 6]
    statuses = [status_name(e.prediction.status) for e in events if e.type == pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED]
    assert statuses == ["pending", "enqueued", "running", "paused", "enqueued", "running", "completed"]


async def test_cancel_running_and_paused_predictions(client):
    running = await submit_pdf(client, 8)
    await wait_for(client, running.id, lambda p: status_name(p.status) == "running")
    cancelled = (await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=running.id))).prediction
    assert status_name(cancelled.status) == "failed"
    assert cancelled.error.code == grpc.StatusCode.CANCELLED.value[0]
    assert "CANCELLED" in cancelled.error.message
    paused = await submit_pdf(client, 3)
    await client.predictions.PausePrediction(ps.PausePredictionRequest(id=paused.id))
    after = (await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=paused.id))).prediction
    assert status_name(after.status) == "failed"
    code, reason, _ = await rpc_error(client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=paused.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "ALREADY_TERMINAL"
    code, reason, _ = await rpc_error(client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=paused.id)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NOT_PAUSED"
    code, reason, _ = await rpc_error(client.predictions.GetPrediction(ps.GetPredictionRequest(id="nope")))
    assert code == grpc.StatusCode.NOT_FOUND and reason == "PREDICTION_NOT_FOUND"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "kill-9"])
async def test_restart_with_queued_jobs_completes_them(tmp_path, how):
    srv = ServerProcess(tmp_path / "restart", **{**TEST_SETTINGS, "shutdown_grace_s": 0.5}, workers=1).start()
    try:
        async with Client(srv.target) as client:
            documents = [pdf(3, scanned=True) for _ in range(3)]
            preds = [await submit_pdf(client, 3, f"restart-{i}", doc) for i, doc in enumerate(documents)]
            await wait_for(client, preds[0].id, lambda p: p.progress.done >= 1)
        srv.stop(how)
        srv.start()
        async with Client(srv.target) as client:
            for pred in preds:
                final = await terminal(client, pred.id)
                assert status_name(final.status) == "completed", final.error.message
                assert final.progress.done == 3
                events = await watch_all(client, pred.id, after=0)
                assert [e.sequence for e in events] == list(range(1, len(events) + 1))  # no gap across the restart
                progress = [e.prediction.progress.done for e in events
                            if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
                assert progress == [1, 2, 3]  # no page answered twice
            # Resubmitting after the restart finds the same predictions.
            again = await submit_pdf(client, 3, "restart-0", documents[0])
            assert again.id == preds[0].id
    finally:
        srv.stop()


async def test_shutdown_ends_watch_streams_cleanly(tmp_path):
    srv = ServerProcess(tmp_path / "drain", **{**TEST_SETTINGS, "shutdown_grace_s": 0.5}, workers=1).start()
    async with Client(srv.target) as client:
        pred = await submit_pdf(client, 6)
        paused = await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))
        assert status_name(paused.prediction.status) == "paused"
        call = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred.id), timeout=60)
        await call.read()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            while await call.read() is not grpc.aio.EOF:
                pass
            raise AssertionError("the stream should end with UNAVAILABLE")
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert error_reason(err)[0] == "SHUTTING_DOWN"
    assert srv.stop() == 0
