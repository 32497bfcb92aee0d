"""Watching a prediction: replay from the store, then live events from the bus, heartbeats while
idle, end after the terminal event. A watcher that falls behind re-reads the store (never blocks
the job, never loses an event)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from vlmgrpc.errors import Code, ServiceError, not_found, unavailable
from vlmgrpc.jobs.events import HEARTBEAT_DUE, Subscription
from vlmgrpc.jobs.model import Prediction, utcnow
from vlmgrpc.jobs.records import Event, EventType
from vlmgrpc.jobs.service import JobService

REPLAY_PAGE = 500


class Watcher:
    def __init__(self, jobs: JobService):
        self.jobs = jobs

    def close(self) -> None:
        """Shutdown: every watch ends with UNAVAILABLE (reason SHUTTING_DOWN) so clients resume elsewhere."""
        self.jobs.bus.close_all()

    async def watch(self, owner: str, prediction_id: str, after: int | None) -> AsyncIterator[Event]:
        jobs = self.jobs
        if jobs.bus.closed:  # draining: refused before any replay, so the client goes elsewhere at once
            raise unavailable("SHUTTING_DOWN", "the server is shutting down; watch again on another instance "
                              "(or here once it is back)")
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
                last = after
                async for event in self._replay(prediction_id, after):
                    last = event.sequence
                    yield event
                    if _terminal(event.prediction):  # it ended after `pred` was read: its live events are past
                        return
            if _terminal(pred):
                if last < pred.sequence:  # its history was deleted (retention) while it was read
                    raise not_found("prediction", prediction_id)
                return
            async for event in self._live(owner, sub, last):
                yield event

    async def _replay(self, prediction_id: str, after: int) -> AsyncIterator[Event]:
        while True:
            events = await self.jobs.store.events_after(prediction_id, after, REPLAY_PAGE)
            for event in events:
                yield event
                after = event.sequence
            if len(events) < REPLAY_PAGE:
                return

    async def _live(self, owner: str, sub: Subscription, last: int) -> AsyncIterator[Event]:
        while True:
            if sub.closed:
                raise unavailable("SHUTTING_DOWN", "the server is shutting down; resume the watch "
                                  "with after_sequence", last_sequence=str(last))
            if sub.lagging:
                sub.recover()
                async for event in self._replay(sub.prediction_id, last):
                    last = event.sequence
                    yield event
                    if _terminal(event.prediction):
                        return
                await self.jobs.get(owner, sub.prediction_id)  # NOT_FOUND once retention deleted it
                continue
            # The hot path: no task, timer or extra future per event, just the queue (fan-out to thousands).
            event = sub.queue.get_nowait() if not sub.queue.empty() else await sub.queue.get()
            if event is HEARTBEAT_DUE:
                yield Event(sub.prediction_id, last, EventType.HEARTBEAT, utcnow(), None)
                continue
            if event is None:  # a shutdown wake-up
                continue
            if event.type is EventType.OUTPUT_DELTA:  # live text: carries a sequence already delivered
                yield event
                continue
            if event.sequence <= last:  # already seen
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

    async def wait(self, pred: Prediction, timeout_s: float) -> Prediction:
        """The prediction once terminal, or as it is when the timeout passes (or the server stops).

        The terminal signal is the bus's terminal event, the one every watcher gets (and, with a shared store,
        the one other replicas relay): subscribed before the read, so an end between the two is not missed."""
        if pred.status.terminal:
            return pred
        jobs = self.jobs
        with jobs.bus.subscribe(pred.id) as sub:
            try:
                async with asyncio.timeout(timeout_s):
                    pred = await jobs.get(pred.owner, pred.id)
                    while not pred.status.terminal and not sub.closed:
                        if sub.lagging:  # dropped events, maybe the terminal one: the store knows
                            sub.recover()
                            pred = await jobs.get(pred.owner, pred.id)
                            continue
                        event = await sub.queue.get()
                        if isinstance(event, Event) and _terminal(event.prediction):
                            return event.prediction
            except TimeoutError:
                pass
            return pred if pred.status.terminal else await jobs.get(pred.owner, pred.id)


def _terminal(pred: Prediction | None) -> bool:
    return pred is not None and pred.status.terminal
