"""Live fan-out of prediction events to watchers.

Publishing never waits: each subscriber has a bounded queue, and one that falls behind is
marked `lagging` instead of blocking the job. Events are persisted before they are published,
so a lagging subscriber re-reads what it missed from the store (nothing is lost).

Heartbeats come from one ticker for all subscribers, not a timer per wait: with thousands of
watchers, arming and cancelling a timeout for every delivered event cost more than the event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Final

from vlmgrpc import observability
from vlmgrpc.jobs.records import Event

# Put in a quiet subscriber's queue by the ticker: the reader answers it with a heartbeat event.
HEARTBEAT_DUE: Final = object()
QUIET_TICKS: Final = 3  # ticks of half a heartbeat period with no event before a heartbeat is due


class Subscription:
    def __init__(self, bus: EventBus, prediction_id: str, size: int):
        self.prediction_id = prediction_id
        self.queue: asyncio.Queue[Event | object | None] = asyncio.Queue(maxsize=size)
        self.lagging = False
        self.quiet_ticks = 0  # ticker periods since the last event was offered
        self.closed = bus.closed
        self._bus = bus

    def offer(self, event: Event) -> None:
        if self.lagging:
            observability.events_dropped()
            return
        self.quiet_ticks = 0
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            observability.events_dropped()
            self.lagging = True  # drop from here on; the reader catches up from the store

    def recover(self) -> None:
        """Called by the reader before it re-reads the store: live events queue again from now."""
        self.queue = asyncio.Queue(maxsize=self.queue.maxsize)
        self.lagging = False

    def shut(self) -> None:
        """Shutdown: mark closed and wake the reader (a None in the queue) if it is waiting."""
        self.closed = True
        try:
            self.queue.put_nowait(None)  # a full queue means the reader is busy and will see `closed`
        except asyncio.QueueFull:
            pass

    def close(self) -> None:
        self._bus._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, queue_size: int, heartbeat_s: float = 10.0):
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.closed = False
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._ticker: asyncio.Task | None = None

    def subscribe(self, prediction_id: str) -> Subscription:
        sub = Subscription(self, prediction_id, self.queue_size)
        self._subs[prediction_id].add(sub)
        if self._ticker is None and not self.closed:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="heartbeats")
        return sub

    async def _tick(self) -> None:
        """Ticks twice a period; a subscriber with no event for three ticks gets HEARTBEAT_DUE. The first of
        those ticks comes 0 to half a period after its last event, so a quiet watch hears something after 1 to
        1.5 heartbeat periods of silence (two ticks would be 0.5 to 1)."""
        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            if not self._subs:  # no one to keep alive: the next subscribe starts a new ticker
                self._ticker = None
                return
            for subs in tuple(self._subs.values()):
                for sub in subs:
                    sub.quiet_ticks += 1
                    if sub.quiet_ticks >= QUIET_TICKS and sub.queue.empty() and not sub.lagging:
                        sub.queue.put_nowait(HEARTBEAT_DUE)
                        sub.quiet_ticks = 0

    def publish(self, event: Event) -> None:
        for sub in tuple(self._subs.get(event.prediction_id, ())):
            sub.offer(event)

    def resync(self, prediction_id: str | None = None) -> None:
        """Events of this prediction (of every one: None) may have been missed: its readers re-read the store."""
        subs = self._subs.get(prediction_id, ()) if prediction_id is not None else \
            [sub for subs in self._subs.values() for sub in subs]
        for sub in tuple(subs):
            sub.lagging = True
            with contextlib.suppress(asyncio.QueueFull):  # a full queue: the reader is busy and will see `lagging`
                sub.queue.put_nowait(None)

    def close_all(self) -> None:
        self.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for subs in self._subs.values():
            for sub in subs:
                sub.shut()

    def subscribers(self, prediction_id: str | None = None) -> int:
        if prediction_id is not None:
            return len(self._subs.get(prediction_id, ()))
        return sum(len(s) for s in self._subs.values())

    def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.prediction_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.prediction_id]
