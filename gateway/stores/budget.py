"""One byte budget per gateway process for buffered upload parts and download chunks.

A transfer reserves the bytes of a part (or a chunk) before it reads them from its source and
gives them back once they have left the process, so RSS stays near `--memory-budget` plus the
idle footprint whatever the number of transfers. A transfer that cannot reserve waits, and so
stops reading its socket: TCP pushes back on the sender instead of RSS growing.

No deadlock: bytes are held only by work that finishes without reserving more (a part being
read or sent, a chunk being written), so every reservation is eventually returned. Waiters
are served first come, first served; a reservation larger than the whole budget is cut to the
budget, so it waits for an idle gateway rather than forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ctypes.util
from collections.abc import AsyncIterator

MIB = 1024 * 1024
DEFAULT_BUDGET = 256 * MIB  # 512 MiB container: ~68 MiB idle, ~100 MiB margin, headroom
IDLE_TRIM_DELAY = 1.0  # seconds with nothing held before freed heap goes back to the kernel


class Grant:
    """Reserved bytes; `release` is idempotent: a done-callback and a finally may both call it."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget: Budget, size: int) -> None:
        self._budget: Budget | None = budget
        self.size = size

    def release(self) -> None:
        budget, self._budget = self._budget, None
        if budget is not None:
            budget._give_back(self.size)


class Budget:
    """An asyncio byte semaphore with FIFO waiters."""

    def __init__(self, total: int = DEFAULT_BUDGET) -> None:
        self.total = total
        self.available = total
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._trim: asyncio.TimerHandle | None = None

    @property
    def held(self) -> int:
        return self.total - self.available

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def reserve(self, size: int) -> Grant:
        """Waits until `size` bytes (at most the whole budget) are free, then holds them."""
        size = max(0, min(size, self.total))
        if not self._waiters and self.available >= size:
            self.available -= size  # the uncontended path never yields to the loop
            return Grant(self, size)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._give_back(size)  # granted just as we were cancelled
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiters.remove(entry)
                self._wake()  # we may have been blocking smaller waiters behind us
            raise
        return Grant(self, size)

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[Grant]:
        grant = await self.reserve(size)
        try:
            yield grant
        finally:
            grant.release()

    def _give_back(self, size: int) -> None:
        self.available += size
        self._wake()
        if self.available == self.total and self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(IDLE_TRIM_DELAY, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        """Freed part buffers sit in malloc's heap between live ones; once nothing is held,
        handing them back lets RSS fall to idle after a burst (at most once per delay)."""
        self._trim = None
        if self.available == self.total:
            trim_heap()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.available:
            size, future = self._waiters.popleft()
            if future.done():  # cancelled: its reserve() is on its way out
                continue
            self.available -= size
            future.set_result(None)


_budget = Budget()


def current() -> Budget:
    """The process's budget (each `--workers` process has its own)."""
    return _budget


def configure(total: int) -> None:
    """Sets the budget at start-up, before any transfer holds part of it."""
    global _budget
    if _budget.total != total:
        if _budget.held or _budget.waiting:
            raise RuntimeError("the memory budget cannot change while transfers hold it")
        _budget = Budget(total)


# What a part streamed from a part link has resident at once, in blocks: the one being read, its
# joined copy, and the one before it, which the consumer (aiohttp's payload writer) still
# references while it asks for the next. A reservation per block read, returned when the next is
# asked for, misses that previous block; `tests/test_part_link_budget.py` holds the RSS bound.
STREAMED_BLOCKS = 3


def streamed_part(size: int, block: int) -> contextlib.AbstractAsyncContextManager[Grant]:
    """Held around a whole streamed part, from before its body is read or its backend request
    starts (an S3 request waiting for its body would time out) until it is stored: one
    reservation per part, so it never waits for budget while holding some."""
    return current().hold(STREAMED_BLOCKS * min(block, size))


def trim_heap() -> None:
    """Hands pages malloc has freed back to the kernel (glibc only; a no-op elsewhere): start-up
    parses large botocore models and frees most of it, which RSS would otherwise keep."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(name).malloc_trim(0)
