"""FairSlots (inference/limits.py): a bound on requests in flight to one model, shared fairly."""

from __future__ import annotations

import asyncio

import pytest

from vlmgrpc.inference.limits import FairSlots


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_never_more_than_capacity_and_peak_is_recorded():
    slots = FairSlots(3)
    running = peak = 0

    async def one(owner: str) -> None:
        nonlocal running, peak
        async with slots.slot(owner):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(one(f"p{i % 4}") for i in range(40)))
    assert peak == 3 and slots.peak == 3 and slots.in_use == 0 and slots.waiting() == 0


async def test_a_freed_slot_goes_to_the_waiter_holding_the_fewest():
    slots = FairSlots(4)
    for _ in range(4):
        await slots.acquire("big")
    order: list[str] = []

    async def wait(owner: str) -> None:
        await slots.acquire(owner)
        order.append(owner)

    tasks = [asyncio.create_task(wait("big")) for _ in range(3)]  # the document asks for more pages first
    await _settle()
    tasks.append(asyncio.create_task(wait("small")))  # a one-image request arrives after them
    await _settle()
    slots.release("big")
    await _settle()
    assert order == ["small"]  # not behind the document's queued pages
    slots.release("big")
    await _settle()
    assert order == ["small", "big"]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_equal_holders_are_served_in_arrival_order():
    slots = FairSlots(1)
    await slots.acquire("x")
    order: list[str] = []

    async def wait(owner: str) -> None:
        await slots.acquire(owner)
        order.append(owner)
        slots.release(owner)

    tasks = [asyncio.create_task(wait(o)) for o in ("a", "b", "c")]
    await _settle()
    slots.release("x")
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]


async def test_a_cancelled_waiter_gives_up_its_turn_and_nothing_leaks():
    slots = FairSlots(1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("b"))
    later = asyncio.create_task(slots.acquire("c"))
    await _settle()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    slots.release("a")
    await later
    assert slots.held("c") == 1 and slots.held("b") == 0 and slots.in_use == 1
    slots.release("c")
    assert slots.in_use == 0


def test_releasing_a_slot_not_held_is_a_bug():
    with pytest.raises(RuntimeError):
        FairSlots(1).release("nobody")
    with pytest.raises(ValueError):
        FairSlots(0)


async def test_two_owners_alternating_cannot_shut_out_a_third():
    slots = FairSlots(2)
    order: list[str] = []

    async def pages(owner: str, n: int) -> None:
        for _ in range(n):
            async with slots.slot(owner):
                order.append(owner)
                await asyncio.sleep(0.001)

    docs = [asyncio.create_task(pages(o, 50)) for o in ("a", "a", "b", "b")]  # two pages in flight each
    await asyncio.sleep(0.01)
    start = len(order)
    await pages("small", 1)
    position = order.index("small") - start
    assert position < 4, order[start:start + 10]  # within a round of the two documents, not after their 200 pages
    await asyncio.gather(*docs)
