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


async def _as(key: str, shared: Budget, size: int) -> asyncio.Task:
    """A reservation made on behalf of share `key` (as a request's task makes it)."""

    async def reserve() -> budget_module.Grant:
        token = budget_module.bind_share(budget_module.Share(key))
        try:
            return await shared.reserve(size)
        finally:
            budget_module.unbind_share(token)

    task = asyncio.create_task(reserve())
    await _settle()
    return task


def test_one_share_holds_at_most_its_limit_and_the_others_go_first():
    """Review finding 1: one user's slow transfers held the whole budget; now its waiter is
    passed over while another user's fits, and it gets its turn as its own bytes return."""

    async def run() -> None:
        shared = Budget(100, share_limit=40)
        hog = [await _as("user:hog", shared, 20) for _ in range(2)]
        assert all(task.done() for task in hog) and shared.held_by("user:hog") == 40
        third = await _as("user:hog", shared, 20)  # over its share, though 60 are free
        assert not third.done()
        honest = await _as("user:honest", shared, 20)  # behind it in the queue, yet served
        assert honest.done() and shared.held_by("user:honest") == 20
        hog[0].result().release()
        grant = await asyncio.wait_for(third, 5)
        assert shared.held_by("user:hog") == 40
        for done in (hog[1], honest):
            done.result().release()
        grant.release()
        assert shared.available == 100 and shared.held_by("user:hog") == 0

    asyncio.run(run())


def test_a_share_holding_nothing_may_take_one_reservation_beyond_its_limit():
    """A lone transfer still runs at full speed: a part larger than the share is granted."""

    async def run() -> None:
        shared = Budget(100, share_limit=25)
        big = await _as("addr:10.0.0.1", shared, 60)
        assert big.done() and big.result().size == 60
        second = await _as("addr:10.0.0.1", shared, 1)
        assert not second.done()
        big.result().release()
        (await asyncio.wait_for(second, 5)).release()
        assert shared.available == 100

    asyncio.run(run())


def test_waiters_of_shares_within_their_limit_stay_first_come_first_served():
    async def run() -> None:
        shared = Budget(100, share_limit=60)
        held = await _as("user:a", shared, 50)
        first = await _as("user:b", shared, 60)  # lacks free budget only
        second = await _as("user:c", shared, 10)  # would fit, but queues behind it
        assert not first.done() and not second.done()
        held.result().release()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        for task in (first, second):
            task.result().release()
        assert shared.available == 100

    asyncio.run(run())


def test_time_spent_waiting_is_recorded_on_the_share():
    """The rate floors discount it: a client the gateway made wait is not the slow one."""

    async def run() -> None:
        shared = Budget(10)
        held = await shared.reserve(10)
        share = budget_module.Share("user:w")
        token = budget_module.bind_share(share)
        waiter = asyncio.create_task(shared.reserve(5))
        budget_module.unbind_share(token)
        await asyncio.sleep(0.05)
        held.release()
        (await asyncio.wait_for(waiter, 5)).release()
        assert share.waited > 0

    asyncio.run(run())
