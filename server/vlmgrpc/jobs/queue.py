"""The work this process holds: predictions queued for its workers and those running, behind one interface.

The dispatch order and its bound are jobs/dispatch.py's; this owner adds what goes with them: the queued
predictions held in memory (so a worker need not read them back; while one is here, this object is its
current state and every change goes through it) and the handle of each running one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from vlmgrpc.jobs.dispatch import Dispatch
from vlmgrpc.jobs.model import Prediction


@dataclass
class RunHandle:
    task: asyncio.Task | None = None
    running_saved: Awaitable | None = None  # the RUNNING save, committing while the first element runs
    pause_requested: bool = False
    requeue: bool = False  # cancelled by shutdown: go back to ENQUEUED instead of FAILED
    ended: bool = False  # the terminal hooks (callback, metrics) ran: once per run
    lost: bool = False  # a save found the claim gone (another replica took it over): stop, write nothing more
    done: asyncio.Event = field(default_factory=asyncio.Event)


class WorkQueue:
    def __init__(self, size: int):
        self._dispatch = Dispatch(size)
        self._queued: dict[str, Prediction] = {}
        self._running: dict[str, RunHandle] = {}

    @property
    def size(self) -> int:
        return self._dispatch.size

    # --- submissions: a slot is reserved before the inputs are stored, and committed or released after

    def reserve(self) -> bool:
        return self._dispatch.reserve()

    def start_now(self) -> bool:
        return self._dispatch.start_now()

    def release(self, started: bool = False) -> None:
        self._dispatch.release(started)

    def commit(self, pred: Prediction, started: bool = False) -> None:
        self._queued[pred.id] = pred
        self._dispatch.commit(pred.id, started)

    async def put(self, pred: Prediction) -> None:
        """Queue a prediction once there is room (recovery, takeover)."""
        self._queued[pred.id] = pred
        await self._dispatch.put(pred.id)

    def hold(self, pred: Prediction) -> None:
        """Keep a prediction's state here without queueing it (re-queued by shutdown: for the next start)."""
        self._queued[pred.id] = pred

    def remove(self, prediction_id: str) -> None:
        """Paused, cancelled or ended while it waited: out of the queue, its slot freed."""
        self._queued.pop(prediction_id, None)
        self._dispatch.remove(prediction_id)

    # --- workers

    async def next(self) -> tuple[str, bool]:
        """The next prediction id for a worker, and whether it committed RUNNING at submission."""
        return await self._dispatch.get()

    def start(self, prediction_id: str) -> RunHandle:
        """A worker took it: running from now on."""
        self._queued.pop(prediction_id, None)
        handle = self._running[prediction_id] = RunHandle()
        return handle

    def finished(self, prediction_id: str) -> None:
        handle = self._running.pop(prediction_id, None)
        if handle is not None:
            handle.done.set()

    def lost(self, prediction_id: str) -> None:
        """Another replica holds it now: a run stops before its next element; a queued one is dropped."""
        handle = self._running.get(prediction_id)
        if handle is not None:
            handle.lost = True
        elif prediction_id in self._queued:
            self.remove(prediction_id)  # no worker may take it: its holder is elsewhere now

    # --- what is held

    def current(self, prediction_id: str) -> Prediction | None:
        """The in-memory state of a queued prediction (None: read the store)."""
        return self._queued.get(prediction_id)

    def queued(self) -> list[Prediction]:
        return list(self._queued.values())

    def handle(self, prediction_id: str) -> RunHandle | None:
        return self._running.get(prediction_id)

    def handles(self) -> list[RunHandle]:
        return list(self._running.values())

    def is_running(self, prediction_id: str) -> bool:
        return prediction_id in self._running

    def holds(self, prediction_id: str) -> bool:
        return prediction_id in self._queued or prediction_id in self._running

    def room(self) -> int:
        return self._dispatch.room()

    def spare(self) -> int:
        return self._dispatch.spare()

    def depth(self) -> int:
        return self._dispatch.depth()

    def running(self) -> int:
        return len(self._running)
