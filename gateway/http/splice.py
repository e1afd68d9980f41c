"""Sends a download's socket to the client's socket with `os.splice`, through a pipe, so the
bytes never enter Python: the second hop then costs one kernel copy instead of two user-space
copies and the interpreter work around them.

Linux only, plain-TCP client connections only (TLS needs the bytes in user space), and only on
asyncio's selector loop, whose transports we bypass: the response's headers and whatever came
with the backend's headers go out through aiohttp first, then the rest is spliced.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
from collections.abc import Callable

from aiohttp import web

from gateway.http.request_stats import Sent
from gateway.http.shares import share_of
from gateway.http.timeouts import RATE_FLOOR, SendStalled
from gateway.stores import budget
from gateway.stores.capabilities import SocketDownload

PIPE_SIZE = 1024 * 1024  # what one splice moves at most; budgeted like a download chunk
YIELD_EVERY = 4 * 1024 * 1024  # bytes moved between turns given to the other requests
_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)


def usable(request: web.Request) -> bool:
    """The client's connection is a plain socket on a selector loop, on a kernel with splice."""
    transport = request.transport
    if not sys.platform.startswith("linux") or not hasattr(os, "splice") or transport is None:
        return False
    if not isinstance(asyncio.get_running_loop(), asyncio.SelectorEventLoop):
        return False
    plain = transport.get_extra_info("sslcontext") is None
    return plain and transport.get_extra_info("socket") is not None


async def send(
    request: web.Request, response: web.StreamResponse, download: SocketDownload, sent: Sent
) -> None:
    """The rest of the body after the prepared headers; ConnectionResetError if the client
    goes, ConnectionError or TimeoutError if the backend stalls or ends early."""
    if download.buffered:
        await response.write(download.buffered)
        sent.bytes += len(download.buffered)
    if download.remaining <= 0:  # a small file came whole with the backend's headers
        return
    transport = request.transport
    assert transport is not None
    client = os.dup(transport.get_extra_info("socket").fileno())  # the fd is the transport's
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep 64 KiB
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        await _flushed(transport, client, download.read_timeout)
        floor_left = _floor(request, sent)  # from before the budget wait, which it discounts
        async with budget.current().hold(capacity):
            pump = _Pump(download, client, read_end, write_end, capacity)
            pump.floor_left = floor_left
            await pump.run(sent)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise ConnectionResetError("client went away") from exc
    finally:
        for fd in (client, read_end, write_end):
            os.close(fd)


def _floor(request: web.Request, sent: Sent) -> Callable[[int], float]:
    """Seconds left before the response, with `pending` more bytes sent, falls below the rate
    floor (`http.timeouts.RateFloor`): a client that stops reading holds the pipe no longer."""
    floor, loop = request.app.get(RATE_FLOOR), asyncio.get_running_loop()
    started, share = loop.time(), share_of(request)
    if floor is None:
        return lambda pending: float("inf")
    return lambda pending: floor.deadline(started, sent.bytes + pending, share) - loop.time()


async def _flushed(transport: asyncio.Transport, fd: int, timeout: float) -> None:
    """Waits until aiohttp's transport has sent what it holds, which must precede our bytes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while transport.get_write_buffer_size() > 0:
        if transport.is_closing() or loop.time() > deadline:
            raise ConnectionResetError("client did not take the response headers")
        await _ready(None, fd, deadline - loop.time())
        await asyncio.sleep(0)  # let the transport's own writer run first


async def _ready(read: int | None, write: int | None, timeout: float) -> None:
    """Until `read` is readable or `write` writable (either given), at most `timeout` s."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if read is not None:
        loop.add_reader(read, wake)
    if write is not None:
        loop.add_writer(write, wake)
    try:
        await asyncio.wait_for(ready, max(timeout, 0.0))
    finally:
        if read is not None:
            loop.remove_reader(read)
        if write is not None:
            loop.remove_writer(write)


class _Pump:
    """backend socket -> pipe -> client socket, never more than the pipe holds in flight."""

    def __init__(
        self, download: SocketDownload, client: int, read_end: int, write_end: int, capacity: int
    ) -> None:
        self.source, self.client = download.fileno(), client
        self.read_end, self.write_end = read_end, write_end
        self.capacity, self.timeout = capacity, download.read_timeout
        self.download = download
        self.in_pipe = 0
        self.floor_left: Callable[[int], float] = lambda pending: float("inf")

    def _fill(self) -> int:
        want = min(self.download.remaining, self.capacity - self.in_pipe)
        if want <= 0:
            return 0
        try:
            moved = os.splice(self.source, self.write_end, want, flags=_FLAGS)
        except BlockingIOError:
            return 0
        if moved == 0:
            raise ConnectionError(f"backend closed with {self.download.remaining} bytes unsent")
        self.download.remaining -= moved
        self.in_pipe += moved
        return moved

    def _drain(self, sent: Sent) -> int:
        if not self.in_pipe:
            return 0
        try:
            moved = os.splice(self.read_end, self.client, self.in_pipe, flags=_FLAGS)
        except BlockingIOError:
            return 0
        self.in_pipe -= moved
        sent.bytes += moved
        sent.spliced += moved
        return moved

    async def run(self, sent: Sent) -> None:
        since_yield = 0
        while self.download.remaining > 0 or self.in_pipe:
            if moved := self._fill() + self._drain(sent):
                since_yield += moved
                if since_yield >= YIELD_EVERY:  # both sockets may stay ready for a whole file
                    since_yield = 0
                    await asyncio.sleep(0)
                continue
            wants_source = self.download.remaining > 0 and self.in_pipe < self.capacity
            left = self.floor_left(self.in_pipe) if self.in_pipe else float("inf")
            try:
                await _ready(
                    self.source if wants_source else None,
                    self.client if self.in_pipe else None,
                    min(self.timeout, left),
                )
            except asyncio.TimeoutError as exc:
                if left < self.timeout:
                    raise SendStalled("the client read below the rate floor") from exc
                raise
