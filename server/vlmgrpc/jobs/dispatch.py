"""The dispatch queue: which prediction a worker of this process takes next, bounded by queue_size."""

from __future__ import annotations

import asyncio
from collections import deque


class Dispatch:
    """The bounded queue of enqueued prediction ids. A submission reserves its slot before its
    inputs are stored, so an accepted prediction always finds room. A prediction paused or cancelled
    while it waits leaves the queue and gives its slot back (`remove`).

    When a worker is idle and nothing is queued, a submission starts at once: it commits RUNNING with
    its first events (one commit fewer on the path of a prediction on an idle server) and that worker is
    promised to it: the id goes to a worker ahead of the queue, and no queued prediction takes a worker
    that a promise needs, so a prediction shown RUNNING never waits behind another."""

    def __init__(self, size: int):
        self.size = size
        self._queued: dict[str, None] = {}  # ids in the order they came (a dict: one entry per id)
        self._started: dict[str, None] = {}  # committed RUNNING at submission, for the promised workers
        self._reserved = 0
        self.idle = 0  # workers waiting in get()
        self._starting = 0  # promises to submissions that start at once, not yet taken by a worker
        self._getters: deque[asyncio.Future] = deque()
        self._putters: deque[asyncio.Future] = deque()

    def _held(self) -> int:
        return len(self._queued) + len(self._started) + self._reserved

    def spare(self) -> int:
        """Idle workers with nothing queued for them and no promise to keep: work another replica could hand over."""
        return 0 if self._queued or self._started else max(0, self.idle - self._starting - self._reserved)

    def room(self) -> int:
        """Predictions the queue can take now."""
        return max(0, self.size - self._held())

    def reserve(self) -> bool:
        if self._held() >= self.size:
            return False
        self._reserved += 1
        return True

    def start_now(self) -> bool:
        """Promise an idle worker to a submission (call right after reserve); False if none is free."""
        if not self._queued and self.idle > self._starting:
            self._starting += 1
            return True
        return False

    def release(self, started: bool = False) -> None:
        self._reserved -= 1
        if started:
            self._starting -= 1
            _wake(self._getters)  # the worker kept for it may take a queued one
        _wake(self._putters)

    def commit(self, prediction_id: str, started: bool = False) -> None:
        self._reserved -= 1
        (self._started if started else self._queued)[prediction_id] = None  # already queued: stays one entry
        _wake(self._getters)
        _wake(self._putters)

    async def put(self, prediction_id: str) -> None:
        """Queue an id once there is room (recovery after a restart)."""
        while prediction_id not in self._queued and self._held() >= self.size:
            await _wait(self._putters)
        self._queued[prediction_id] = None
        _wake(self._getters)

    def remove(self, prediction_id: str) -> None:
        """A waiting prediction that was paused or cancelled: out of the queue, its slot (or promise) freed."""
        if self._queued.pop(prediction_id, False) is None:
            _wake(self._putters)
        elif self._started.pop(prediction_id, False) is None:
            self._starting -= 1
            _wake(self._getters)
            _wake(self._putters)

    def _ready(self) -> bool:
        """Whether a waiting worker may take an id: a started one always, a queued one only if the idle workers
        (this one included) outnumber the promises still to be kept."""
        return bool(self._started) or (bool(self._queued) and self.idle > self._starting)

    async def get(self) -> tuple[str, bool]:
        """The next prediction id, and whether it was committed RUNNING at submission."""
        self.idle += 1
        try:
            while not self._ready():
                await _wait(self._getters)
            started = bool(self._started)
            ids = self._started if started else self._queued
            prediction_id = next(iter(ids))
            del ids[prediction_id]
            self._starting -= started
        finally:
            self.idle -= 1
        if self._ready():
            _wake(self._getters)  # more than one was waiting
        _wake(self._putters)
        return prediction_id, started

    def depth(self) -> int:
        return len(self._queued) + len(self._started)


async def _wait(waiters: deque[asyncio.Future]) -> None:
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except BaseException:
        if waiter.done() and not waiter.cancelled():
            _wake(waiters)  # woken, then cancelled: the wake-up goes to the next one
        elif waiter in waiters:
            waiters.remove(waiter)
        raise


def _wake(waiters: deque[asyncio.Future]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return
