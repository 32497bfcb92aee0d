"""Predictions paused or cancelled while they wait leave the dispatch queue (jobs/dispatch.py), and a
worker promised to a submission is kept for it."""

from __future__ import annotations

import asyncio

from vlmgrpc.jobs.dispatch import Dispatch


async def test_a_removed_prediction_gives_its_slot_back_and_is_never_handed_out():
    dispatch = Dispatch(size=2)
    for pred_id in ("paused", "waiting"):
        assert dispatch.reserve()
        dispatch.commit(pred_id)
    assert not dispatch.reserve()  # full
    dispatch.remove("paused")
    assert dispatch.depth() == 1
    assert dispatch.reserve()  # its slot is free: no false QUEUE_FULL
    dispatch.commit("next")
    assert await asyncio.wait_for(dispatch.get(), 1) == ("waiting", False)
    assert await asyncio.wait_for(dispatch.get(), 1) == ("next", False)
    assert dispatch.depth() == 0


async def test_a_resumed_prediction_is_queued_once():
    dispatch = Dispatch(size=4)
    assert dispatch.reserve()
    dispatch.commit("p1")
    dispatch.remove("p1")  # paused
    assert dispatch.reserve()
    dispatch.commit("p1")  # resumed
    assert dispatch.depth() == 1
    await dispatch.put("p1")  # recovery racing the resume: still one entry
    assert dispatch.depth() == 1
    assert await asyncio.wait_for(dispatch.get(), 1) == ("p1", False)
    assert dispatch.depth() == 0


async def test_removing_a_prediction_started_at_submission_frees_its_worker_for_the_queue():
    dispatch = Dispatch(size=4)
    worker = asyncio.create_task(dispatch.get())
    await asyncio.sleep(0)
    assert dispatch.reserve() and dispatch.start_now()
    dispatch.commit("started", started=True)
    assert dispatch.reserve()
    dispatch.commit("queued")
    dispatch.remove("started")  # paused before its worker ran
    assert await asyncio.wait_for(worker, 1) == ("queued", False)
    assert dispatch.depth() == 0


async def test_recovery_waits_for_room_that_a_removal_makes():
    dispatch = Dispatch(size=1)
    assert dispatch.reserve()
    dispatch.commit("a")
    put = asyncio.create_task(dispatch.put("b"))
    await asyncio.sleep(0.01)
    assert not put.done()
    dispatch.remove("a")
    await asyncio.wait_for(put, 1)
    assert await asyncio.wait_for(dispatch.get(), 1) == ("b", False)


async def test_a_cancelled_worker_passes_its_wake_up_on():
    dispatch = Dispatch(size=4)
    first = asyncio.create_task(dispatch.get())
    second = asyncio.create_task(dispatch.get())
    await asyncio.sleep(0)
    assert dispatch.reserve()
    dispatch.commit("p1")  # wakes the first worker ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == ("p1", False)
    assert dispatch.idle == 0
