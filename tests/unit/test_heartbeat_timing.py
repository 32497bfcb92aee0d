"""Heartbeats come after 1 to 1.5 heartbeat periods of silence (settings.heartbeat_s, README, RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import time

import pytest

from vlmgrpc.jobs.events import HEARTBEAT_DUE, EventBus
from vlmgrpc.jobs.model import Kind, Prediction, utcnow
from vlmgrpc.jobs.records import Event, EventType

PERIOD = 0.4
SLACK = 0.05  # event-loop scheduling on a busy machine


def _event(sequence: int) -> Event:
    pred = Prediction(id="p1", owner="alice", kind=Kind.IMAGE, domain="image.caption", batch=False,
                      sequence=sequence)
    return Event("p1", sequence, EventType.PROGRESS, utcnow(), pred)


async def _silence_before_heartbeat(sub) -> float:
    since = time.monotonic()
    assert await asyncio.wait_for(sub.queue.get(), 3 * PERIOD) is HEARTBEAT_DUE
    return time.monotonic() - since


# Where the last event falls between the ticker's ticks (each half a period): just after one, midway, just before
# the next. Just before a tick is where two quiet ticks gave a heartbeat after only half a period.
@pytest.mark.parametrize("offset", [0.02, 0.5, 0.9])
async def test_a_heartbeat_follows_one_to_one_and_a_half_periods_of_silence(offset):
    bus = EventBus(queue_size=8, heartbeat_s=PERIOD)
    with bus.subscribe("p1") as sub:  # the ticker starts now: ticks at PERIOD/2, PERIOD, ...
        await asyncio.sleep(PERIOD / 2 * (1 + offset))
        bus.publish(_event(1))
        assert (await sub.queue.get()).sequence == 1
        silence = await _silence_before_heartbeat(sub)
        assert PERIOD - SLACK <= silence <= 1.5 * PERIOD + SLACK, silence
        silence = await _silence_before_heartbeat(sub)  # and between heartbeats
        assert PERIOD - SLACK <= silence <= 1.5 * PERIOD + SLACK, silence
    bus.close_all()
