"""SIGTERM drains (RELIABILITY.md, Shutdown): health NOT_SERVING at once, new work and new watches refused with
SHUTTING_DOWN, running work finishes within the grace period, queued work stays ENQUEUED for the next start, and
no prediction is left in between (pending or running)."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error, status_name, terminal, wait_for, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc.jobs.model import Status
from vlmgrpc.jobs.pg_store import PgStore
from vlmgrpc.jobs.store import Store
from vlmgrpc_client import Client, error_reason

pytestmark = pytest.mark.integration
GRACE_S = 30  # far more than the running document needs
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
BUGS = re.compile(r"Traceback|Task exception was never retrieved|Task was destroyed but it is pending|ERROR")


async def _submit(client: Client, pages: int, data: bytes = b"") -> pb.Prediction:
    return (await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=data or pdf(pages, scanned=True))))).prediction


async def _statuses_in_store(srv: ServerProcess) -> dict[str, Status]:
    """What the stopped server left in its store (its SQLite file, or its PostgreSQL database)."""
    url = srv.settings.get("database_url")
    store = PgStore(str(url)) if url else Store(srv.data_dir / "vlmgrpc.sqlite3")
    await store.open()
    try:
        preds = await store.with_status(*Status)
        return {p.id: p.status for p in preds}
    finally:
        await store.close()


async def test_sigterm_drains_running_work_refuses_new_work_and_keeps_the_queue(tmp_path):
    srv = ServerProcess(tmp_path / "svc", **{**TEST_SETTINGS, "shutdown_grace_s": GRACE_S}, workers=1).start()
    async with Client(srv.target) as client:
        running = await _submit(client, 40)  # ~2 s of OCR: still running at SIGTERM
        queued = await _submit(client, 2)  # behind it: the only worker is busy
        await wait_for(client, running.id, lambda p: p.progress.done >= 1)
        assert status_name((await wait_for(client, queued.id, lambda p: True)).status) == "enqueued"

        signalled = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        health = health_pb2_grpc.HealthStub(client.channel)
        while (await health.Check(health_pb2.HealthCheckRequest())).status != NOT_SERVING:
            assert time.monotonic() - signalled < 1, "health still SERVING a second after SIGTERM"
            await asyncio.sleep(0.02)
        # Still draining (the document runs): new work and new watches are refused, clearly.
        code, reason, _ = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, images=[pb.ImageInput(data=text_png(["late"]))])))
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        code, reason, _ = await rpc_error(client.documents.GenerateStream(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(1)))).read())
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        # A new watch gets no replay from a server that is going away: refused before its first message.
        watch = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=queued.id))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await watch.read()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE and error_reason(refused.value)[0] == "SHUTTING_DOWN"
        assert status_name((await wait_for(client, running.id, lambda p: True)).status) == "running"

    assert await asyncio.to_thread(srv.proc.wait, GRACE_S + 30) == 0
    assert time.monotonic() - signalled < GRACE_S, "the drain waited out the grace period"
    log = srv.log.read_text(errors="replace")
    assert not BUGS.search(log.split("shutting down", 1)[1]), log[-3000:]
    statuses = await _statuses_in_store(srv)
    assert statuses[running.id] is Status.COMPLETED  # finished within the grace period
    assert statuses[queued.id] is Status.ENQUEUED  # not started by a stopping server
    assert set(statuses.values()) <= {Status.COMPLETED, Status.ENQUEUED}

    srv.start()
    try:
        async with Client(srv.target) as client:
            final = await terminal(client, queued.id)
            assert status_name(final.status) == "completed", final.error.message
            events = await watch_all(client, queued.id, after=0)
            changes = [status_name(e.prediction.status) for e in events
                       if e.type == pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED]
            assert changes == ["pending", "enqueued", "running", "completed"]  # ran only after the restart
    finally:
        srv.stop()


async def test_a_short_grace_re_queues_running_work_and_leaves_nothing_running(tmp_path):
    """Past the grace period the running prediction is re-queued; one started at submission but not yet claimed is
    too; none is left RUNNING or PENDING, and nothing is logged as a bug."""
    srv = ServerProcess(tmp_path / "svc", **{**TEST_SETTINGS, "shutdown_grace_s": 0.2}, workers=2).start()
    async with Client(srv.target) as client:
        document = pdf(40, scanned=True)  # made once, before any is submitted: the first is still running below
        preds = [await _submit(client, 40, document) for _ in range(4)]
        await wait_for(client, preds[0].id, lambda p: p.progress.done >= 1)
    assert srv.stop() == 0
    log = srv.log.read_text(errors="replace")
    assert not BUGS.search(log.split("shutting down", 1)[1]), log[-3000:]
    statuses = await _statuses_in_store(srv)
    assert set(statuses.values()) <= {Status.COMPLETED, Status.ENQUEUED}, statuses
    assert statuses[preds[0].id] is Status.ENQUEUED
