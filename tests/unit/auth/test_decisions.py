"""gateway/auth/decisions.py: remembered answers, one computation per key, bounded waits."""

from __future__ import annotations

import asyncio

import pytest

from gateway.auth.decisions import Decisions, Unavailable
from gateway.errors import Busy


def test_concurrent_askers_of_one_key_share_one_computation_and_the_answer_is_remembered():
    calls: list[str] = []

    async def scenario() -> list[str]:
        decisions: Decisions[str] = Decisions(ttl=30, entries=10, pending=4, timeout=5)

        async def compute() -> str:
            calls.append("x")
            await asyncio.sleep(0.01)
            return "answer"

        first = await asyncio.gather(*[decisions.get("k", compute) for _ in range(20)])
        again = await decisions.get("k", compute)
        return [*first, again]

    answers = asyncio.run(scenario())
    assert answers == ["answer"] * 21 and calls == ["x"]


def test_entries_are_bounded_oldest_first_and_expire():
    async def scenario() -> tuple[bool, bool, bool]:
        decisions: Decisions[int] = Decisions(ttl=30, entries=2, pending=4, timeout=5)
        for key in ("a", "b", "c"):
            decisions.remember(key, 1)
        evicted = decisions.cached("a")[0]
        kept = decisions.cached("c")[0]
        short: Decisions[int] = Decisions(ttl=0.01, entries=2, pending=4, timeout=5)
        short.remember("a", 1)
        await asyncio.sleep(0.02)
        return evicted, kept, short.cached("a")[0]

    evicted, kept, expired_still_there = asyncio.run(scenario())
    assert (evicted, kept, expired_still_there) == (False, True, False)


def test_a_zero_ttl_remembers_nothing():
    decisions: Decisions[int] = Decisions(ttl=0, entries=2, pending=4, timeout=5)
    decisions.remember("a", 1)
    assert len(decisions) == 0


def test_too_many_pending_computations_are_busy_and_a_slow_one_is_unavailable():
    async def scenario() -> None:
        decisions: Decisions[int] = Decisions(ttl=30, entries=10, pending=2, timeout=0.05)
        gate = asyncio.Event()

        async def blocked() -> int:
            await gate.wait()
            return 1

        waiting = [asyncio.ensure_future(decisions.get(k, blocked)) for k in ("a", "b")]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await decisions.get("c", blocked)
        for task in waiting:
            with pytest.raises(Unavailable):
                await task
        assert len(decisions) == 0  # a failure is not remembered: the next asker tries again
        gate.set()

        async def quick() -> int:
            return 2

        assert await decisions.get("a", quick) == 2

    asyncio.run(scenario())
