"""Watching a prediction: replay from the store, then live events from the bus, heartbeats while
idle, end after the terminal event. A watcher that falls behind re-reads the store (never blocks
the job, never loses an event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from vlmgrpc.errors import Code, ServiceError, unavailable
from vlmgrpc.jobs.events import Subscription
from vlmgrpc.jobs.model import Prediction, utcnow
from vlmgrpc.jobs.service import JobService
from vlmgrpc.jobs.store import Event, EventType

REPLAY_PAGE = 500


class Watcher:
    def __init__(self, jobs: JobService):
        self.jobs = jobs
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Shutdown: every watch ends with UNAVAILABLE (reason SHUTTING_DOWN) so clients resume elsewhere."""
        self._closing.set()

    async def watch(self, owner: str, prediction_id: str, after: int | None,
                    heartbeat_s: float) -> AsyncIterator[Event]:
        jobs = self.jobs
        with jobs.bus.subscribe(prediction_id) as sub:  # subscribe first: nothing slips between read and live
            pred = await jobs.get(owner, prediction_id)
            last = pred.sequence
            if after is not None and after > pred.sequence:
                raise ServiceError(Code.OUT_OF_RANGE, "RESUME_POINT_IN_FUTURE",
                                   f"after_sequence {after} is beyond the latest event {pred.sequence}",
                                   {"latest": str(pred.sequence)})
            if after is None or after == pred.sequence:
                yield Event(pred.id, pred.sequence, EventType.SNAPSHOT, pred.created_at, pred)
            else:
                async for event in self._replay(prediction_id, after):
                    last = event.sequence
                    yield event
            if _terminal(pred) and last >= pred.sequence:
                return
            async for event in self._live(sub, last, heartbeat_s):
                yield event

    async def _replay(self, prediction_id: str, after: int) -> AsyncIterator[Event]:
        while True:
            events = await self.jobs.store.events_after(prediction_id, after, REPLAY_PAGE)
            for event in events:
                yield event
                after = event.sequence
            if len(events) < REPLAY_PAGE:
                return

    async def _live(self, sub: Subscription, last: int, heartbeat_s: float) -> AsyncIterator[Event]:
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while True:
                if sub.lagging:
                    sub.recover()
                    async for event in self._replay(sub.prediction_id, last):
                        last = event.sequence
                        yield event
                        if _terminal(event.prediction):
                            return
                    continue
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, closing}, timeout=heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if closing in done:
                    getter.cancel()
                    raise unavailable("SHUTTING_DOWN", "the server is shutting down; resume the watch "
                                      "with after_sequence", last_sequence=str(last))
                if getter not in done:
                    getter.cancel()
                    yield Event(sub.prediction_id, last, EventType.HEARTBEAT, utcnow(), None)
                    continue
                event = getter.result()
                if event.sequence <= last:
                    continue
                if event.sequence > last + 1:  # missed some while lagging: fill the gap from the store
                    async for missed in self._replay(sub.prediction_id, last):
                        if missed.sequence >= event.sequence:
                            break
                        last = missed.sequence
                        yield missed
                last = event.sequence
                yield event
                if _terminal(event.prediction):
                    return
        finally:
            closing.cancel()

    async def wait(self, owner: str, prediction_id: str, timeout_s: float) -> Prediction:
        """The prediction once terminal, or as it is when the timeout passes."""
        with self.jobs.bus.subscribe(prediction_id) as sub:
            pred = await self.jobs.get(owner, prediction_id)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while not pred.status.terminal:
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing.is_set():
                    break
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    continue
                if sub.lagging:
                    sub.recover()
                    pred = await self.jobs.get(owner, prediction_id)
                elif event.prediction is not None and event.sequence > pred.sequence:
                    pred = event.prediction
            return pred


def _terminal(pred: Prediction | None) -> bool:
    return pred is not None and pred.status.terminal
