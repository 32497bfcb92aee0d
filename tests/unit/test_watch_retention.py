"""A watch of a prediction that retention deletes while the watch reads it ends NOT_FOUND; it never waits for
events that can no longer come. Real store, service and watcher (the service fixture of test_runner_shutdown)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.unit.test_runner_shutdown import service  # noqa: F401 - the fixture
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.watch import Watcher


async def _completed(jobs, pred_id: str) -> Prediction:
    pred = Prediction(id=pred_id, owner="alice", kind=Kind.DOCUMENT, domain="document.ocr", batch=True, total=1)
    pred, _ = await jobs.store.create(pred, then=(Status.ENQUEUED, Status.RUNNING))
    pred.response, pred.done = {"pages": [{"page_index": 0, "text": "x"}]}, 1
    pred.transition(Status.COMPLETED)
    await jobs.lifecycle.save(pred)
    return pred


async def test_a_watch_replaying_a_prediction_deleted_meanwhile_ends_not_found(service):  # noqa: F811
    jobs = service
    await _completed(jobs, "pred-swept")
    read_history = jobs.store.events_after

    async def deleted_first(prediction_id, after, limit=500):
        # Retention's sweep lands between the watch's read of the prediction and its replay.
        assert await jobs.store.delete_expired(time.time() + 60, 10) == [prediction_id]
        return await read_history(prediction_id, after, limit)

    jobs.store.events_after = deleted_first
    with pytest.raises(ServiceError) as caught:
        async with asyncio.timeout(5):  # before the fix: waited for live events forever
            async for _ in Watcher(jobs).watch("alice", "pred-swept", 0):
                pass
    assert caught.value.code is Code.NOT_FOUND


async def test_a_resumed_watch_of_a_prediction_that_ends_between_its_read_and_its_replay_ends(service):  # noqa: F811
    """The watch read the prediction RUNNING; its completion committed (and went out live) before the replay,
    which therefore ends with the terminal event: the watch ends there instead of waiting for it live."""
    jobs = service
    pred = Prediction(id="pred-ends", owner="alice", kind=Kind.DOCUMENT, domain="document.ocr", batch=True, total=1)
    pred, _ = await jobs.store.create(pred, then=(Status.ENQUEUED, Status.RUNNING))
    read_history = jobs.store.events_after

    async def completed_first(prediction_id, after, limit=500):
        pred.response, pred.done = {"pages": [{"page_index": 0, "text": "x"}]}, 1
        pred.transition(Status.COMPLETED)
        await jobs.lifecycle.save(pred)  # committed and published before the replay reads
        jobs.store.events_after = read_history
        return await read_history(prediction_id, after, limit)

    jobs.store.events_after = completed_first
    async with asyncio.timeout(5):  # before the fix: waited for a live terminal event it had already passed
        events = [e async for e in Watcher(jobs).watch("alice", "pred-ends", 1)]
    assert [e.sequence for e in events] == [2, 3, 4]
    assert events[-1].prediction.status is Status.COMPLETED
