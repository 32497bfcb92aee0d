"""The dispatch queue (jobs/service.py): bounded slots, and submissions that start at once on an idle worker."""

from __future__ import annotations

import asyncio

from vlmgrpc.jobs.dispatch import Dispatch


async def _idle_worker(dispatch: Dispatch) -> asyncio.Task:
    worker = asyncio.create_task(dispatch.get())
    await asyncio.sleep(0)  # now waiting in get()
    return worker


async def test_a_submission_starts_at_once_only_on_an_idle_worker_not_yet_promised():
    dispatch = Dispatch(size=4)
    assert dispatch.reserve() and not dispatch.start_now()  # no worker waits
    dispatch.release()
    worker = await _idle_worker(dispatch)
    assert dispatch.reserve() and dispatch.start_now()
    assert dispatch.reserve() and not dispatch.start_now()  # the one idle worker is promised already
    dispatch.commit("second")  # an ordinary enqueue: it may not take the worker promised to "first"
    await asyncio.sleep(0.01)
    assert not worker.done()
    dispatch.commit("first", started=True)
    assert await asyncio.wait_for(worker, 1) == ("first", True)  # shown RUNNING, so it never waits behind another
    assert await asyncio.wait_for(dispatch.get(), 1) == ("second", False)
    assert dispatch.depth() == 0 and dispatch.idle == 0


async def test_a_refused_submission_gives_its_promise_back():
    dispatch = Dispatch(size=4)
    worker = await _idle_worker(dispatch)
    assert dispatch.reserve() and dispatch.start_now()
    dispatch.release(started=True)
    assert dispatch.reserve() and dispatch.start_now()  # the worker is free again
    dispatch.commit("p1", started=True)
    assert await asyncio.wait_for(worker, 1) == ("p1", True)


async def test_nothing_starts_at_once_while_others_wait_in_the_queue():
    dispatch = Dispatch(size=4)
    worker = await _idle_worker(dispatch)
    assert dispatch.reserve()
    dispatch.commit("waiting")  # handed to the idle worker, which has not run yet
    assert dispatch.idle == 1 and dispatch.depth() == 1
    assert dispatch.reserve() and not dispatch.start_now()  # that worker is taken by what waits
    assert await asyncio.wait_for(worker, 1) == ("waiting", False)


async def test_queue_full_counts_reservations():
    dispatch = Dispatch(size=2)
    assert dispatch.reserve() and dispatch.reserve()
    assert not dispatch.reserve()
    dispatch.commit("a")
    dispatch.release()
    assert dispatch.reserve()
