"""The byte budget on its own: never overdrawn, first come first served, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from gateway.stores import budget as budget_module
from gateway.stores.budget import Budget


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _queued(shared: Budget, size: int) -> asyncio.Task:
    """A reservation that has reached the queue (or been granted) by the time this returns."""
    task = asyncio.create_task(shared.reserve(size))
    await _settle()
    return task


def test_uncontended_reserve_is_immediate_and_release_is_idempotent():
    async def run() -> None:
        shared = Budget(100)
        grant = await shared.reserve(60)
        assert shared.available == 40
        grant.release()
        grant.release()
        assert shared.available == 100

    asyncio.run(run())


def test_waiters_are_served_in_order_and_never_overdraw():
    async def run() -> None:
        shared = Budget(100)
        first = await shared.reserve(80)
        order: list[str] = []
        peak = 0

        async def take(name: str, size: int) -> None:
            nonlocal peak
            async with shared.hold(size):
                peak = max(peak, shared.held)
                order.append(name)
                await asyncio.sleep(0)

        big = asyncio.create_task(take("big", 90))
        await _settle()
        small = asyncio.create_task(take("small", 10))  # fits now, but queues behind "big"
        await _settle()
        assert order == [] and shared.waiting == 2
        first.release()
        await asyncio.wait_for(asyncio.gather(big, small), 5)
        assert order == ["big", "small"]
        assert peak <= 100 and shared.available == 100

    asyncio.run(run())


def test_a_reservation_larger_than_the_budget_waits_for_all_of_it():
    async def run() -> None:
        shared = Budget(100)
        held = await shared.reserve(1)
        huge = await _queued(shared, 10_000)
        assert not huge.done()
        held.release()
        grant = await asyncio.wait_for(huge, 5)
        assert grant.size == 100 and shared.available == 0
        grant.release()

    asyncio.run(run())


def test_a_cancelled_waiter_returns_nothing_it_did_not_get_and_unblocks_the_queue():
    async def run() -> None:
        shared = Budget(100)
        held = await shared.reserve(50)
        blocked = await _queued(shared, 100)
        behind = await _queued(shared, 50)
        assert not behind.done()
        blocked.cancel()
        grant = await asyncio.wait_for(behind, 5)  # the head of the queue left: 50 fit
        with pytest.raises(asyncio.CancelledError):
            await blocked
        held.release()
        grant.release()
        assert shared.available == 100 and shared.waiting == 0

    asyncio.run(run())


def test_the_process_budget_is_configured_once_and_not_while_held():
    async def run() -> None:
        budget_module.configure(64 * 1024 * 1024)
        assert budget_module.current().total == 64 * 1024 * 1024
        grant = await budget_module.current().reserve(1)
        with pytest.raises(RuntimeError):
            budget_module.configure(32 * 1024 * 1024)
        grant.release()
        budget_module.configure(budget_module.DEFAULT_BUDGET)
        assert budget_module.current().total == budget_module.DEFAULT_BUDGET

    asyncio.run(run())
