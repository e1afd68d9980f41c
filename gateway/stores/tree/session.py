"""One connection to a remote file tree (SFTP, FTP) and the bounded pool that shares them.

A `Session` does one operation at a time (an FTP control connection is busy for the whole of
a transfer; SFTP could multiplex, but one lease per operation keeps both stores alike). The
`Pool` opens sessions on demand up to its bound, hands out idle ones first, and drops a
session whose failure was not an answer from the server (a reset, a timeout, an abandoned
transfer), so the next lease gets a fresh one.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from gateway.stores.errors import DestinationUnavailable, StoreError


@dataclass(frozen=True)
class Node:
    """A file or directory as the server describes it; `mtime` in seconds since the epoch."""

    name: str
    is_dir: bool
    size: int
    mtime: float


class Writer(abc.ABC):
    """An open upload of one file (a temp name: nothing the client sees)."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def finish(self) -> None:
        """Completes the upload: the whole file is stored when this returns."""

    @abc.abstractmethod
    async def abandon(self) -> None:
        """Stops the upload without completing it; never raises."""


class Session(abc.ABC):
    """One connection; every method raises the library's own errors (the store translates)."""

    usable = True  # False once the connection cannot be trusted for another operation

    @abc.abstractmethod
    async def stat(self, full: str) -> Node | None:
        """The node at `full`, None when there is none."""

    @abc.abstractmethod
    async def listdir(self, full: str) -> list[Node] | None:
        """The children of directory `full`; None when it is missing or not a directory."""

    @abc.abstractmethod
    def read(
        self, full: str, span: tuple[int, int], to_end: bool, chunk: int
    ) -> AsyncIterator[bytes]:
        """Bytes [start, stop) in pieces of at most `chunk`; `to_end` when stop is the file's
        size (an FTP transfer stopped before the end costs its connection). Closing it early
        is allowed."""

    @abc.abstractmethod
    async def open_write(self, full: str) -> Writer: ...

    @abc.abstractmethod
    async def rename(self, source: str, target: str) -> None:
        """Replaces `target` (a file) atomically."""

    @abc.abstractmethod
    async def remove(self, full: str) -> None: ...

    @abc.abstractmethod
    async def rmdir(self, full: str) -> None: ...

    @abc.abstractmethod
    async def mkdir(self, full: str) -> None:
        """One directory, whose parent exists."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Ends the connection; never raises."""

    @staticmethod
    def answered(exc: BaseException) -> bool:
        """Whether `exc` is the server's answer (a status), after which the session is fine."""
        return False


class Pool:
    """At most `size` sessions, opened by `connect()` on demand and reused while usable.

    A caller waits at most `wait` seconds for a session (the destination's failure after
    that: every session busy means it is saturated, not the request at fault)."""

    def __init__(
        self, connect: Callable[[], Awaitable[Session]], size: int, wait: float, uri: str
    ) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Session] = []
        self._wait = wait
        self._uri = uri

    async def acquire(self, destination: str) -> Session:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except asyncio.TimeoutError as exc:
            raise DestinationUnavailable(
                f"Destination {self._uri}: no connection free after {self._wait:g} s",
                destination=destination,
                code="PoolTimeout",
            ) from exc
        try:
            while self._idle:
                session = self._idle.pop()
                if session.usable:
                    return session
                await session.close()
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    async def release(self, session: Session) -> None:
        """Back to the idle list if still usable; closed otherwise."""
        try:
            if session.usable:
                self._idle.append(session)
            else:
                await asyncio.shield(session.close())
        finally:
            self._slots.release()

    @contextlib.asynccontextmanager
    async def lease(self, destination: str) -> AsyncIterator[Session]:
        session = await self.acquire(destination)
        try:
            yield session
        except BaseException as exc:
            if not isinstance(exc, StoreError) and not session.answered(exc):
                session.usable = False
            raise
        finally:
            await self.release(session)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for session in idle:
            await session.close()
