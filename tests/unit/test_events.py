"""Live fan-out of events (jobs/events.py)."""

from __future__ import annotations

import asyncio

import pytest

from vlmgrpc.jobs.events import HEARTBEAT_DUE, EventBus
from vlmgrpc.jobs.model import Kind, Prediction, utcnow
from vlmgrpc.jobs.records import Event, EventType


def _event(prediction_id: str, sequence: int) -> Event:
    pred = Prediction(id=prediction_id, owner="alice", kind=Kind.IMAGE, domain="image.caption", batch=False,
                      sequence=sequence)
    return Event(prediction_id, sequence, EventType.PROGRESS, utcnow(), pred)


def _drain(queue: asyncio.Queue) -> list[int]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait().sequence)
    return out


async def test_publish_reaches_every_subscriber_of_the_prediction():
    bus = EventBus(queue_size=8)
    a, b = bus.subscribe("p1"), bus.subscribe("p1")
    other = bus.subscribe("p2")
    for seq in (1, 2, 3):
        bus.publish(_event("p1", seq))
    got = await asyncio.wait_for(a.queue.get(), 1)
    assert got.sequence == 1 and got.prediction_id == "p1"
    assert _drain(a.queue) == [2, 3]
    assert _drain(b.queue) == [1, 2, 3]
    assert _drain(other.queue) == []
    assert not a.lagging and not b.lagging


async def test_a_waiting_reader_is_woken_by_publish():
    bus = EventBus(queue_size=4)
    sub = bus.subscribe("p1")
    reader = asyncio.create_task(sub.queue.get())
    await asyncio.sleep(0)
    bus.publish(_event("p1", 7))
    assert (await asyncio.wait_for(reader, 1)).sequence == 7


async def test_full_queue_marks_lagging_instead_of_blocking():
    bus = EventBus(queue_size=2)
    slow, fast = bus.subscribe("p1"), bus.subscribe("p1")
    bus.publish(_event("p1", 1))
    bus.publish(_event("p1", 2))
    assert _drain(fast.queue) == [1, 2]
    bus.publish(_event("p1", 3))  # slow's queue is full: publish returns at once
    assert slow.lagging is True
    assert fast.lagging is False
    assert _drain(fast.queue) == [3]
    # Once lagging, events are dropped even after the reader drained its queue, until recover().
    assert _drain(slow.queue) == [1, 2]
    bus.publish(_event("p1", 4))
    assert slow.queue.empty() and slow.lagging
    assert _drain(fast.queue) == [4]


async def test_recover_gives_a_fresh_queue():
    bus = EventBus(queue_size=1)
    sub = bus.subscribe("p1")
    bus.publish(_event("p1", 1))
    bus.publish(_event("p1", 2))
    assert sub.lagging
    old = sub.queue
    sub.recover()
    assert sub.lagging is False
    assert sub.queue is not old
    assert sub.queue.empty()
    assert sub.queue.maxsize == 1
    bus.publish(_event("p1", 3))
    assert _drain(sub.queue) == [3]


async def test_close_removes_the_subscriber():
    bus = EventBus(queue_size=4)
    a, b = bus.subscribe("p1"), bus.subscribe("p1")
    c = bus.subscribe("p2")
    assert bus.subscribers("p1") == 2 and bus.subscribers() == 3
    a.close()
    assert bus.subscribers("p1") == 1 and bus.subscribers() == 2
    bus.publish(_event("p1", 1))
    assert a.queue.empty()
    assert _drain(b.queue) == [1]
    b.close()
    c.close()
    assert bus.subscribers("p1") == 0 and bus.subscribers() == 0
    a.close()  # closing twice is harmless
    assert bus.subscribers() == 0


async def test_subscription_as_context_manager():
    bus = EventBus(queue_size=4)
    with bus.subscribe("p1") as sub:
        assert bus.subscribers("p1") == 1
        bus.publish(_event("p1", 1))
        assert _drain(sub.queue) == [1]
    assert bus.subscribers("p1") == 0


async def test_close_inside_publish_is_safe():
    """A subscriber may go away while an event is being fanned out."""
    bus = EventBus(queue_size=1)
    subs = [bus.subscribe("p1") for _ in range(3)]
    for s in subs:
        s.offer(_event("p1", 0))  # fill every queue
    subs[0].close()
    bus.publish(_event("p1", 1))
    assert all(s.lagging for s in subs[1:])


@pytest.mark.parametrize("queue_size", [1, 100])
async def test_publish_without_subscribers_is_fine(queue_size):
    bus = EventBus(queue_size=queue_size)
    bus.publish(_event("nobody-watches", 1))
    sub = bus.subscribe("p1")
    sub.close()
    bus.publish(_event("p1", 2))
    assert bus.subscribers() == 0


async def test_a_quiet_subscriber_gets_a_heartbeat_due_and_a_busy_one_does_not():
    bus = EventBus(queue_size=64, heartbeat_s=0.2)
    quiet, busy = bus.subscribe("p1"), bus.subscribe("p2")
    for seq in range(1, 9):  # 0.4 s of events every 50 ms: the busy one is never quiet for two ticks
        bus.publish(_event("p2", seq))
        await asyncio.sleep(0.05)
    assert await asyncio.wait_for(quiet.queue.get(), 1) is HEARTBEAT_DUE
    assert _drain(busy.queue) == list(range(1, 9))
    quiet.close()
    busy.close()
    await asyncio.sleep(0.25)
    assert bus._ticker is None  # no subscribers: the ticker ended


async def test_close_all_stops_the_heartbeat_ticker():
    bus = EventBus(queue_size=4, heartbeat_s=0.2)
    sub = bus.subscribe("p1")
    ticker = bus._ticker
    bus.close_all()
    await asyncio.sleep(0)
    assert ticker is not None and ticker.cancelled()
    assert sub.closed and sub.queue.get_nowait() is None
