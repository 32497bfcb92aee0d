"""How a run ends when a cancel (shutdown, CancelPrediction) comes at an awkward moment (jobs/runner.py), and what a
shutdown leaves behind (JobService.park). Real store, service and runner; the run's work before that moment is
stood in for by `_process` (no Triton is needed to reach it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.inference.gateway import TritonGateway
from vlmgrpc.inference.models import ModelRegistry
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.events import EventBus, Subscription
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.records import Event
from vlmgrpc.jobs.runner import Runner
from vlmgrpc.jobs.service import JobService
from vlmgrpc.jobs.store import Store
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.settings import Settings

RESULT = {"text": "done"}


def _finish(pred: Prediction) -> None:
    pred.response, pred.done = {"pages": [{"page_index": 0, **RESULT}]}, pred.total
    pred.transition(Status.COMPLETED)


class CompletesThenIsCancelled(Runner):
    """The last element's save (with the completion) is queued, and the cancel lands on the wait for it."""

    async def _process(self, pred, handle, started):
        self.lifecycle.save_last_element(pred, (0, RESULT), _finish)
        await asyncio.Event().wait()


class FailsWhileTheLockIsHeld(Runner):
    async def _process(self, pred, handle, started):
        await asyncio.sleep(0.3)  # the test takes the prediction's lock meanwhile
        raise ServiceError(Code.UNAVAILABLE, "UNAVAILABLE", "Triton stayed away")


@pytest.fixture
async def service(tmp_path):
    settings = Settings(data_dir=tmp_path, workers=1, shutdown_grace_s=0)
    store = Store(tmp_path / "jobs.sqlite")
    await store.open()
    blobs = Blobs(tmp_path)
    renderer = Renderer(1)
    gateway = TritonGateway("127.0.0.1:9", 1)  # never reached
    jobs = JobService(settings, store, blobs, FileStore(store, blobs, 1 << 20), EventBus(16), Catalog(), renderer,
                      gateway, ModelRegistry(gateway, [], list))
    yield jobs
    await gateway.close()
    renderer.close()
    await store.close()


async def _queue(jobs: JobService, pred_id: str, started: bool = False) -> Prediction:
    pred = Prediction(id=pred_id, owner="alice", kind=Kind.DOCUMENT, domain="document.ocr", batch=True, total=1)
    then = (Status.ENQUEUED, Status.RUNNING) if started else (Status.ENQUEUED,)
    pred, _ = await jobs.store.create(pred, then=then)
    assert jobs.queue.reserve()
    jobs.queue.commit(pred, started=started)
    return pred


async def _terminal(sub: Subscription) -> Prediction:
    """The prediction of the first terminal event the bus gave this subscriber (what a waiter hears)."""
    while True:
        event = await sub.queue.get()
        if isinstance(event, Event) and event.prediction is not None and event.prediction.status.terminal:
            return event.prediction


async def _running(jobs: JobService, pred_id: str) -> None:
    async with asyncio.timeout(5):
        while not jobs.queue.is_running(pred_id):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # into _process


async def test_a_shutdown_cancel_after_the_completion_keeps_it_and_tells_the_waiters(service, caplog):
    jobs = service
    runner = CompletesThenIsCancelled(jobs)
    await _queue(jobs, "p1")
    sub = jobs.bus.subscribe("p1")
    runner.start()
    await _running(jobs, "p1")
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(runner.stop(grace_s=0), 5)  # re-queue: too late, it completed in memory
    final = await asyncio.wait_for(_terminal(sub), 1)  # the terminal event went out: waiters are not lost
    assert final is not None and final.status is Status.COMPLETED
    assert (await jobs.store.get("p1")).status is Status.COMPLETED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_cancel_while_a_failure_is_being_saved_does_not_leave_it_running(service):
    jobs = service
    runner = FailsWhileTheLockIsHeld(jobs)
    await _queue(jobs, "p2")
    sub = jobs.bus.subscribe("p2")
    runner.start()
    await _running(jobs, "p2")
    lock = jobs.lifecycle.lock("p2")
    await lock.acquire()  # e.g. a PausePrediction holding it: the failure waits for the lock
    await asyncio.sleep(0.4)
    stopping = asyncio.ensure_future(runner.stop(grace_s=0))
    await asyncio.sleep(0.1)  # the shutdown's cancel has landed on the wait for the lock
    lock.release()
    await asyncio.wait_for(stopping, 5)
    assert (await jobs.store.get("p2")).status is Status.FAILED
    assert (await asyncio.wait_for(_terminal(sub), 1)).status is Status.FAILED


async def test_park_re_queues_a_prediction_started_at_submission_but_never_claimed(service):
    jobs = service
    await _queue(jobs, "p3", started=True)  # committed RUNNING; no worker took it before the shutdown
    await _queue(jobs, "p4")
    await jobs.park()
    assert (await jobs.store.get("p3")).status is Status.ENQUEUED
    assert (await jobs.store.get("p4")).status is Status.ENQUEUED
