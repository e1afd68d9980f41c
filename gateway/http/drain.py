"""Graceful drain on SIGTERM: readiness fails at once, in-flight requests get a time limit,
and what is still running then is cancelled so that the stores abort their writes.

The connection is closed under a cancelled request, so its client sees no success; the
stores' own cleanup (temp file removed, multipart upload aborted, no part) runs before the
stores are closed.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)
ABORT_GRACE = 10.0  # seconds the cancelled requests get for their stores' cleanup


class Drain:
    """The requests in flight (their tasks) and whether the process is draining."""

    def __init__(self) -> None:
        self.draining = False
        self._tasks: set[asyncio.Task] = set()

    def track(self, task: asyncio.Task | None) -> None:
        """Called as a request starts; the task leaves the set once it is done."""
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def begin(self) -> None:
        self.draining = True

    async def wait(self, timeout: float) -> int:
        """Waits up to `timeout` for every request in flight; cancels the rest and waits for
        their cleanup; returns how many it cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        leftovers = set(self._tasks)
        if not leftovers:
            return 0
        log.warning(
            "drain: %d request(s) still running after %s s: aborting", len(leftovers), timeout
        )
        for task in leftovers:
            task.cancel()
        _, pending = await asyncio.wait(leftovers, timeout=ABORT_GRACE)
        if pending:
            log.error("drain: %d request(s) did not finish aborting", len(pending))
        return len(leftovers)


DRAIN = web.AppKey("drain", Drain)
