"""A prediction's changes: serialised per prediction, saved with their event, published once committed, and the
terminal hooks run once. The one way the job layer changes a prediction (submission's first commit aside)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable

from vlmgrpc import observability
from vlmgrpc.jobs.callbacks import CallbackOutbox
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.model import Prediction, utcnow
from vlmgrpc.jobs.records import ClaimLost, Delta, Event, EventType
from vlmgrpc.jobs.store_api import JobStore


class Lifecycle:
    def __init__(self, store: JobStore, bus: EventBus, callbacks: CallbackOutbox,
                 claim_lost: Callable[[str], None]):
        self.store, self.bus, self.callbacks = store, bus, callbacks
        self._claim_lost = claim_lost  # told when a save finds another replica holds the prediction
        self._locks = [asyncio.Lock() for _ in range(64)]
        # The latest committed (published) sequence of each running prediction: what output deltas carry.
        self._committed: dict[str, int] = {}

    def lock(self, prediction_id: str) -> asyncio.Lock:
        # Striped locks: every change of one prediction is serialised, memory stays bounded.
        return self._locks[zlib.crc32(prediction_id.encode()) % len(self._locks)]

    def save(self, pred: Prediction, event: EventType = EventType.STATUS_CHANGED,
             element: tuple[int, object] | None = None) -> Awaitable[Event]:
        """Queue a save of `pred` with its next event. The event is published when it commits, in commit
        order, even if the caller stopped waiting; await the result to know it committed."""
        return self._published(self.store.save(pred, event, element))

    def save_last_element(self, pred: Prediction, element: tuple[int, object],
                          finish: Callable[[Prediction], None]) -> Awaitable[tuple[Event, Event]]:
        """The last element's result and progress, then `finish(pred)`'s transition: one commit."""
        return self._published(self.store.save_last_element(pred, element, finish))

    def _published(self, saved: asyncio.Future) -> asyncio.Future:
        saved.add_done_callback(self._publish)
        return asyncio.shield(saved)  # a caller cancelled meanwhile does not stop the publish

    def _publish(self, saved: asyncio.Future) -> None:
        if saved.cancelled():
            return
        error = saved.exception()
        if isinstance(error, ClaimLost):
            self._claim_lost(error.prediction_id)
        if error is not None:
            return
        result = saved.result()
        for event in result if isinstance(result, tuple) else (result,):
            self._committed[event.prediction_id] = event.sequence
            self.bus.publish(event)

    def publish_delta(self, pred: Prediction, delta: Delta) -> None:
        """New text of a generative model, to live watchers only (not stored: the final answer is). It carries
        the latest committed sequence, so it never runs ahead of the stored history a watcher resumes from."""
        sequence = self._committed.get(pred.id, 0)
        self.bus.publish(Event(pred.id, sequence, EventType.OUTPUT_DELTA, utcnow(), None, delta=delta))

    def ended(self, pred: Prediction) -> None:
        """A prediction's terminal save was made: metrics, and its callback (its outbox row committed with it)."""
        self._committed.pop(pred.id, None)
        observability.prediction_finished(pred)
        if pred.callback_url:
            self.callbacks.submit(pred.id)
