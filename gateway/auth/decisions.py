"""Remembered answers of a slow or remote check: bounded, expiring, computed once at a time.

An identity source asks something costly (the tracking server's auth app, an issuer's keys)
per key; `Decisions` remembers each answer for `ttl` seconds in at most `entries` slots (the
oldest goes first), lets concurrent askers of one key share one computation, owned by no
request so that none can cancel it for the others, bounds how many computations wait
(`Busy`, 429, beyond that) and how long one may take (`Unavailable`, 503). A computation
that raises is not remembered: the next asker tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from gateway.errors import ApiError, Busy

V = TypeVar("V")


class Unavailable(ApiError):
    """The service an identity source relies on did not answer in time, or answered badly."""

    status = 503
    error_code = "TEMPORARILY_UNAVAILABLE"


class Decisions(Generic[V]):
    def __init__(self, *, ttl: float, entries: int, pending: int, timeout: float) -> None:
        self.ttl, self.entries, self.pending, self.timeout = ttl, entries, pending, timeout
        self._cache: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, key: Hashable) -> tuple[bool, V | None]:
        """(True, value) while a remembered answer is fresh, else (False, None)."""
        found = self._cache.get(key)
        if found is None:
            return False, None
        if found[0] <= time.monotonic():
            del self._cache[key]
            return False, None
        self._cache.move_to_end(key)
        return True, found[1]

    def remember(self, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + self.ttl, value)
        self._cache.move_to_end(key)
        while len(self._cache) > self.entries:
            self._cache.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._cache.pop(key, None)

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[V]], what: str = "check"
    ) -> V:
        """The remembered answer, or `compute()`'s, shared with concurrent askers of `key`."""
        hit, value = self.cached(key)
        if hit:
            return value  # type: ignore[return-value]
        task = self._running.get(key)
        if task is None:
            if len(self._running) >= self.pending:
                raise Busy(f"Too many {what}s are waiting; retry in a moment")
            task = asyncio.ensure_future(self._computed(key, compute, what))
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, done: asyncio.Future[V]) -> None:
        self._running.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every asker may have gone, the error is theirs to see

    async def _computed(self, key: Hashable, compute: Callable[[], Awaitable[V]], what: str) -> V:
        try:
            async with asyncio.timeout(self.timeout):
                value = await compute()
        except TimeoutError as exc:
            raise Unavailable(f"The {what} took longer than {self.timeout:g} s") from exc
        self.remember(key, value)
        return value
