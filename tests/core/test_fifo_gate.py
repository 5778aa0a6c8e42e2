"""FifoGate: at most `capacity` holders, admitted strictly in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from core.fifo_gate import FifoGate


async def test_holders_never_exceed_capacity_and_are_admitted_in_arrival_order() -> None:
    gate = FifoGate(2)
    admitted: list[int] = []
    inside = 0
    peak = 0

    async def visitor(number: int) -> None:
        nonlocal inside, peak
        async with gate:
            admitted.append(number)
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.001 * (number % 3))
            inside -= 1

    tasks = []
    for number in range(20):
        tasks.append(asyncio.create_task(visitor(number)))
        await asyncio.sleep(0)  # arrivals in a known order
    await asyncio.gather(*tasks)
    assert admitted == list(range(20))
    assert peak == 2
    assert gate.held == 0 and gate.waiting == 0


async def test_a_newcomer_cannot_overtake_a_waiter() -> None:
    # The pool's asyncio.Queue lets a newcomer take an item returned while a waiter is
    # being woken; the gate hands the permit to the waiter instead.
    gate = FifoGate(1)
    await gate.acquire()
    order: list[str] = []

    async def waiter() -> None:
        await gate.acquire()
        order.append("waiter")
        gate.release()

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    gate.release()  # handed to the waiter, which has not run yet
    await gate.acquire()  # the newcomer queues behind it
    order.append("newcomer")
    gate.release()
    await task
    assert order == ["waiter", "newcomer"]


async def test_a_cancelled_waiter_gives_up_its_place_and_any_permit_handed_to_it() -> None:
    gate = FifoGate(1)
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # handed to the waiter ...
    cancelled.cancel()  # ... which is cancelled before it runs: the permit must not leak
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert gate.held == 0
    await asyncio.wait_for(gate.acquire(), 1)

    queued = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert gate.waiting == 0
    gate.release()
    assert gate.held == 0


async def test_try_acquire_takes_only_a_free_permit_nobody_waits_for() -> None:
    gate = FifoGate(1)
    assert gate.try_acquire()
    assert not gate.try_acquire()  # none free
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # handed to the waiter: still none free for a newcomer
    assert not gate.try_acquire()
    await waiter
    gate.release()
    assert gate.try_acquire()


def test_bad_use_is_refused() -> None:
    with pytest.raises(ValueError):
        FifoGate(0)
    with pytest.raises(RuntimeError):
        FifoGate(1).release()
