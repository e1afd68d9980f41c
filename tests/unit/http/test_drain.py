"""gateway/http/drain.py: requests in flight get their time limit, then are cancelled and given
their cleanup; nothing is left running and nothing is counted twice."""

from __future__ import annotations

import asyncio
import logging

from gateway.http.drain import Drain

LIMIT = 0.05  # the drain's time limit under test; every wait below is bounded by it


async def _forever(cleaned: list[str], name: str) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        cleaned.append(name)  # the store's cleanup: runs when the drain cancels the request


def test_with_nothing_in_flight_the_drain_returns_at_once():
    drain = Drain()
    assert not drain.draining
    drain.begin()
    assert drain.draining
    assert asyncio.run(drain.wait(LIMIT)) == 0


def test_requests_that_finish_in_time_are_not_cancelled():
    async def run() -> tuple[int, list[str]]:
        drain, finished = Drain(), []

        async def quick(name: str) -> None:
            await asyncio.sleep(0)
            finished.append(name)

        for name in ("a", "b"):
            drain.track(asyncio.create_task(quick(name)))
        return await drain.wait(10.0), finished

    assert asyncio.run(run()) == (0, ["a", "b"])


def test_requests_still_running_at_the_limit_are_cancelled_and_cleaned_up(caplog):
    async def run() -> tuple[int, list[str], list[asyncio.Task]]:
        drain, cleaned = Drain(), []
        tasks = [asyncio.create_task(_forever(cleaned, n)) for n in ("upload", "download")]
        for task in tasks:
            drain.track(task)
            drain.track(task)  # tracked twice (two middlewares): still one request
        await asyncio.sleep(0)
        return await drain.wait(LIMIT), cleaned, tasks

    with caplog.at_level(logging.WARNING, logger="gateway.http.drain"):
        cancelled, cleaned, tasks = asyncio.run(run())
    assert cancelled == 2
    assert sorted(cleaned) == ["download", "upload"]
    assert all(task.cancelled() for task in tasks)
    assert "2 request(s) still running" in caplog.text


def test_a_finished_request_leaves_the_set_and_none_is_ignored():
    async def run() -> int:
        drain = Drain()
        drain.track(None)
        done = asyncio.create_task(asyncio.sleep(0))
        drain.track(done)
        await done
        await asyncio.sleep(0)  # its done-callback runs
        return await drain.wait(LIMIT)

    assert asyncio.run(run()) == 0
