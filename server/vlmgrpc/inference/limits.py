"""How many requests each model holds at once, shared fairly between the predictions that want it.

A model answers best with a full batch in flight and worst when one large document takes every slot:
`FairSlots` bounds the requests in flight to one model, and when a slot frees it goes to the waiting
prediction that holds the fewest slots (the earliest waiter among equals). A 2,000-page document keeps the
model busy, and a one-image request submitted after it waits for one slot, not for the document.
Among waiters holding as many slots, the one served least recently goes first (round robin), so two long
documents alternating on a model cannot shut out a third request either.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from contextlib import asynccontextmanager


class FairSlots:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0  # most slots held at once, for the benchmarks
        self._held: dict[str, int] = {}  # owner -> slots held
        # owner -> its waiters in arrival order; the dict keeps owners in order of their first wait.
        self._waiting: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()
        self._served: dict[str, int] = {}  # owner -> tick of its latest grant
        self._tick = 0

    def held(self, owner: str) -> int:
        return self._held.get(owner, 0)

    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    async def acquire(self, owner: str) -> None:
        if self.in_use < self.capacity and not self._waiting:
            self._grant(owner)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted just as we were cancelled: give it back
                self.release(owner)
            else:
                self._forget(owner, waiter)
            raise

    def release(self, owner: str) -> None:
        held = self._held.get(owner, 0)
        if held <= 0:
            raise RuntimeError(f"{owner!r} releases a slot it does not hold")
        if held == 1:
            del self._held[owner]
            if owner not in self._waiting:
                self._served.pop(owner, None)
        else:
            self._held[owner] = held - 1
        self.in_use -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self, owner: str):
        await self.acquire(owner)
        try:
            yield
        finally:
            self.release(owner)

    def _grant(self, owner: str) -> None:
        self._tick += 1
        self._served[owner] = self._tick
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        self._held[owner] = self._held.get(owner, 0) + 1

    def _wake(self) -> None:
        while self.in_use < self.capacity and self._waiting:
            # The owner holding the fewest slots; among equals the one served least recently (never: first).
            owner = min(self._waiting, key=lambda o: (self._held.get(o, 0), self._served.get(o, -1)))
            queue = self._waiting[owner]
            waiter = queue.popleft()
            if not queue:
                del self._waiting[owner]
            if waiter.done():  # cancelled while queued
                continue
            self._grant(owner)
            waiter.set_result(None)

    def _forget(self, owner: str, waiter: asyncio.Future) -> None:
        queue = self._waiting.get(owner)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[owner]
        self._wake()
