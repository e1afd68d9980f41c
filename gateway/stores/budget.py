"""One byte budget per gateway process for buffered upload parts and download chunks.

A transfer reserves the bytes of a part (or a chunk) before it reads them from its source and
gives them back once they have left the process, so RSS stays near `--memory-budget` plus the
idle footprint whatever the number of transfers. A transfer that cannot reserve waits, and so
stops reading its socket: TCP pushes back on the sender instead of RSS growing.

No deadlock: bytes are held only by work that finishes without reserving more (a part being
read or sent, a chunk being written), so every reservation is eventually returned. Waiters
are served first come, first served; a reservation larger than the whole budget is cut to the
budget, so it waits for an idle gateway rather than forever.

Fair share: each reservation is made on behalf of the `Share` bound to its task (the user, the
client address, or the part link: `gateway.http.shares`). One share may hold at most
`share_limit` bytes; a waiter whose share is at its limit lets the waiters behind it go first,
so one user's slow transfers can hold a bounded part of the budget, never all of it. A share
holding nothing may always take one reservation, however large: a lone transfer still runs at
full speed, and nothing waits on a limit no release can lift.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import ctypes.util
from collections.abc import AsyncIterator
from dataclasses import dataclass

MIB = 1024 * 1024
DEFAULT_BUDGET = 256 * MIB  # 512 MiB container: ~68 MiB idle, ~100 MiB margin, headroom
IDLE_TRIM_DELAY = 1.0  # seconds with nothing held before freed heap goes back to the kernel


@dataclass
class Share:
    """Whose transfer this is; `waited` sums the seconds its reservations waited for budget,
    which the rate floors (`gateway.http.timeouts`) do not count against the client: it could
    not send or read then. That includes waits behind its own share's transfers, or one user's
    honest parallel uploads would fail the floor while they queue for that user's share."""

    key: str
    waited: float = 0.0


_SHARE: contextvars.ContextVar[Share | None] = contextvars.ContextVar("budget_share", default=None)


def bind_share(share: Share) -> contextvars.Token[Share | None]:
    """Reservations made in this task (and tasks it starts) count against `share`."""
    return _SHARE.set(share)


def unbind_share(token: contextvars.Token[Share | None]) -> None:
    _SHARE.reset(token)


def current_share() -> Share | None:
    """The share this task's work counts against (None outside a request)."""
    return _SHARE.get()


class Grant:
    """Reserved bytes; `release` is idempotent: a done-callback and a finally may both call it."""

    __slots__ = ("_budget", "key", "size")

    def __init__(self, budget: Budget, size: int, key: str) -> None:
        self._budget: Budget | None = budget
        self.size = size
        self.key = key

    def release(self) -> None:
        budget, self._budget = self._budget, None
        if budget is not None:
            budget._give_back(self.size, self.key)


_Waiter = tuple[int, str, "asyncio.Future[None]"]


class Budget:
    """An asyncio byte semaphore with FIFO waiters and a limit per share."""

    def __init__(self, total: int = DEFAULT_BUDGET, share_limit: int | None = None) -> None:
        self.total = total
        self.share_limit = min(share_limit or total, total)
        self.available = total
        self._held: dict[str, int] = {}
        self._waiters: list[_Waiter] = []
        self._trim: asyncio.TimerHandle | None = None

    @property
    def held(self) -> int:
        return self.total - self.available

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def held_by(self, key: str) -> int:
        return self._held.get(key, 0)

    def _share_allows(self, key: str, size: int) -> bool:
        """Work bound to no share (start-up, background passes) is limited by the total only."""
        held = self._held.get(key, 0)
        return not key or held == 0 or held + size <= self.share_limit

    def _take(self, key: str, size: int) -> Grant:
        self.available -= size
        self._held[key] = self._held.get(key, 0) + size
        return Grant(self, size, key)

    async def reserve(self, size: int) -> Grant:
        """Waits until `size` bytes (at most the whole budget) are free and the caller's share
        may hold them, then holds them."""
        size = max(0, min(size, self.total))
        share = _SHARE.get()
        key = share.key if share is not None else ""
        if not self._waiters and size <= self.available and self._share_allows(key, size):
            return self._take(key, size)  # the uncontended path never yields to the loop
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (size, key, future)
        self._waiters.append(entry)
        self._wake()  # waiters at their share's limit may be all that is ahead of this one
        started = loop.time()
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._give_back(size, key)  # granted just as we were cancelled
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiters.remove(entry)
                self._wake()  # we may have been blocking smaller waiters behind us
            raise
        finally:
            if share is not None:
                share.waited += loop.time() - started
        return Grant(self, size, key)

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[Grant]:
        grant = await self.reserve(size)
        try:
            yield grant
        finally:
            grant.release()

    def _give_back(self, size: int, key: str) -> None:
        self.available += size
        left = self._held.get(key, 0) - size
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)
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
        """First come, first served, except that a waiter whose share is at its limit is passed
        over (it waits for its own share's releases); the first waiter that lacks only free
        budget stops the pass, so no later one overtakes it."""
        index = 0
        while index < len(self._waiters) and self.available > 0:
            size, key, future = self._waiters[index]
            if future.done():  # cancelled: its reserve() is on its way out
                del self._waiters[index]
                continue
            if not self._share_allows(key, size):
                index += 1
                continue
            if size > self.available:
                break
            del self._waiters[index]
            self._take(key, size)
            future.set_result(None)


_budget = Budget()


def current() -> Budget:
    """The process's budget (each `--workers` process has its own)."""
    return _budget


def configure(total: int, share_limit: int | None = None) -> None:
    """Sets the budget at start-up, before any transfer holds part of it."""
    global _budget
    if _budget.total != total or _budget.share_limit != min(share_limit or total, total):
        if _budget.held or _budget.waiting:
            raise RuntimeError("the memory budget cannot change while transfers hold it")
        _budget = Budget(total, share_limit)


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
