"""The periodic cleanup task stops with the app, whenever the stop arrives."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from gateway.config import load_settings
from gateway.routing.destinations import Destinations
from gateway.stores import cleanup
from gateway.stores.local import LocalStore


def test_a_stop_arriving_as_a_pass_ends_still_stops_the_task(tmp_path: Path, monkeypatch) -> None:
    """The CI hang: on 3.11 `wait_for` drops a cancel that lands as its pass finishes, and the
    task then slept `cleanup_interval` (an hour) with the app's shutdown waiting on it."""
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    passes: list[asyncio.Task] = []

    async def scenario() -> None:
        context = cleanup.cleanup_context(
            Destinations(LocalStore(str(tmp_path), 1024)), settings.multipart
        )(web.Application())

        async def pass_that_meets_the_shutdown(destinations: Destinations, max_age: int) -> int:
            # Scheduled now, the shutdown's cancel runs before the task sees this pass's result.
            passes.append(asyncio.ensure_future(context.__anext__()))
            return 0

        monkeypatch.setattr(cleanup, "cleanup_pass", pass_that_meets_the_shutdown)
        await context.__anext__()
        for _ in range(100):
            if passes:
                break
            await asyncio.sleep(0.01)
        assert passes, "the first pass never ran"
        # `asyncio.wait` does not cancel on timeout: a cancel would end the sleep and hide it.
        done, _ = await asyncio.wait(passes, timeout=5)
        assert done, "the shutdown still waits on a cleanup task asleep until the next pass"
        with pytest.raises(StopAsyncIteration):
            passes[0].result()

    asyncio.run(scenario())
