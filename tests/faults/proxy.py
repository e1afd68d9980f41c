"""A TCP fault proxy for tests: forwards 127.0.0.1:<port> to a target and misbehaves on demand.

It runs its own asyncio loop in a daemon thread, so a test drives it with plain calls:

    with FaultProxy("127.0.0.1", seaweed_port) as proxy:
        proxy.fault(cut_after=1_000_000, direction="up", how="reset")  # one RST, then healthy
        ...                                   # the gateway talks to proxy.endpoint
        assert proxy.wait_fired(10)
        proxy.clear()

Faults (any combination, switched at run time, applying to open and new connections alike):

- ``latency``: seconds slept before each forwarded chunk, in the faulted direction(s).
- ``bandwidth``: bytes per second per connection and direction.
- ``cut_after``: after this many bytes in ``direction`` since the fault was set (counted over
  all connections, so "byte N of the transfer" whatever connection carries it), the connection
  carrying byte N forwards exactly up to it and is then cut on both sides: ``how="close"``
  (FIN) or ``how="reset"`` (RST, SO_LINGER 0). With ``once=True`` (default) the fault is then
  spent and the proxy forwards normally again: a one-off failure.
- ``blackhole``: bytes are read and dropped, nothing is forwarded, nothing answered; new
  connections are accepted (the peer's connect succeeds) and never connected onwards. When the
  fault is cleared, connections that lost bytes are reset: their streams are broken.
- ``blackhole_after``: forwards this many bytes in ``direction`` (counted as for a cut), then
  becomes a black hole: a peer that stops answering in the middle of a transfer.
- ``refuse``: new connections are reset as soon as they are accepted.

``reset_all()`` resets every open connection at once. ``stats()`` counts connections and bytes
per direction (``up`` = client to target, ``down`` = target to client).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from dataclasses import dataclass, field, replace
from typing import Literal

Direction = Literal["up", "down", "both"]
_CHUNK = 64 * 1024
_TIMEOUT = 30.0


@dataclass(frozen=True)
class Fault:
    latency: float = 0.0
    bandwidth: int | None = None
    cut_after: int | None = None
    direction: Direction = "both"
    how: Literal["close", "reset"] = "close"
    once: bool = True
    blackhole: bool = False
    blackhole_after: int | None = None
    refuse: bool = False

    def applies(self, direction: str) -> bool:
        return self.direction in ("both", direction)


@dataclass
class Stats:
    accepted: int = 0
    active: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped: int = 0  # read and thrown away by a black hole
    cuts: int = 0
    refused: int = 0


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    target: asyncio.StreamWriter | None = None
    dropped: bool = False  # lost bytes to a black hole
    tasks: list[asyncio.Task] = field(default_factory=list)
    closed: bool = False
    draining: bool = False  # cut with FIN: both sides half-closed, late bytes thrown away
    seen: bytearray = field(default_factory=bytearray)  # the tail of what went up (`capture`)
    seen_end: int = 0  # bytes that went up before `seen`
    heads_end: int = 0  # where the last captured request head ended


# A request head as S3 clients send it (RFC 9112 3, 5): method, target, header lines.
_HEAD = re.compile(rb"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/1\.1\r\n((?:[^\r\n]+\r\n){0,100})\r\n")
_HEAD_TAIL = 16 * 1024  # longer than any head, so one split across reads is still whole


def _linger_zero(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self._fault = Fault()
        self._counted = 0  # bytes in the cut direction since the fault was set
        self._fired = threading.Event()
        self._stats = Stats()
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self.heads: list[tuple[str, str, dict[str, str]]] | None = None  # see `capture`
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._accept, self.host, self.port or 0)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(_TIMEOUT) or failure:
            raise RuntimeError(f"fault proxy did not start: {failure}")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for conn in self._conns for t in conn.tasks if not t.done()]
        for conn in list(self._conns):
            self._close(conn, reset=True)
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _call(self, fn, *args):  # runs fn(*args) on the proxy's loop and returns its result
        assert self._loop is not None, "FaultProxy.start() first"

        async def wrapper():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(_TIMEOUT)

    # --- control ----------------------------------------------------------------------------

    def fault(self, **settings: object) -> None:
        """Replaces the current fault (unnamed settings go back to healthy) and re-arms cuts."""
        self._call(self._set, Fault(**settings))  # type: ignore[arg-type]

    def clear(self) -> None:
        """Healthy again; connections that lost bytes to a black hole are reset."""
        self._call(self._set, Fault())

    def _set(self, fault: Fault) -> None:
        was_blackhole = self._fault.blackhole
        self._fault = fault
        self._counted = 0
        self._fired.clear()
        if was_blackhole and not fault.blackhole:
            for conn in list(self._conns):
                if conn.dropped or conn.target is None:
                    self._close(conn, reset=True)

    def retarget(self, host: str, port: int) -> None:
        """New connections go to host:port (open ones keep their target)."""
        self.target = (host, port)

    def reset_all(self) -> int:
        """RSTs every open connection now; returns how many."""
        return self._call(self._reset_all)

    def _reset_all(self) -> int:
        conns = list(self._conns)
        for conn in conns:
            self._close(conn, reset=True)
        return len(conns)

    def wait_fired(self, timeout: float) -> bool:
        """True once a cut (or refusal) has happened since the fault was set."""
        return self._fired.wait(timeout)

    def stats(self) -> Stats:
        return self._call(lambda: replace(self._stats, active=len(self._conns)))

    # --- forwarding -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Closing a connection cancels this task; ending normally keeps asyncio's stream callback
        # (which calls task.exception()) from logging the cancellation as an error.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._stats.accepted += 1
        conn = _Conn(client=writer)
        if self._fault.refuse:
            self._stats.refused += 1
            self._fired.set()
            _linger_zero(writer)
            writer.transport.abort()
            return
        self._conns.add(conn)
        conn.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while self._fault.blackhole:  # accept, read, never connect onwards
                conn.dropped = True
                data = await reader.read(_CHUNK)
                if not data:
                    return
                self._stats.dropped += len(data)
            try:
                target_reader, target = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), _TIMEOUT
                )
            except (OSError, asyncio.TimeoutError):
                self._close(conn, reset=True)
                return
            conn.target = target
            if conn.closed:
                self._close(conn, reset=True)
                return
            down = asyncio.create_task(self._pump(conn, target_reader, writer, "down"))
            conn.tasks.append(down)
            await self._pump(conn, reader, target, "up")
            await down
        finally:
            self._close(conn, reset=False)

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        try:
            while not conn.closed:
                fault = self._fault
                size = _CHUNK
                if fault.bandwidth and fault.applies(direction):
                    size = max(1, min(_CHUNK, fault.bandwidth // 20))
                data = await reader.read(size)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()  # half-close onwards, as the peer did
                    return
                if conn.draining:
                    continue
                fault = self._fault
                if fault.blackhole:
                    conn.dropped = True
                    self._stats.dropped += len(data)
                    continue
                if fault.applies(direction):
                    if fault.latency:
                        await asyncio.sleep(fault.latency)
                    if fault.bandwidth:
                        await asyncio.sleep(len(data) / fault.bandwidth)
                if self.heads is not None and direction == "up":
                    self._capture(conn, data)
                data, cut = self._budget(data, direction)
                if data:
                    writer.write(data)
                    await asyncio.wait_for(writer.drain(), _TIMEOUT)
                    self._count(len(data), direction)
                if cut:
                    self._stats.cuts += 1
                    self._fired.set()
                    if cut == "reset":
                        self._close(conn, reset=True)
                        return
                    self._half_close(conn)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            self._close(conn, reset=True)

    def capture(self) -> list[tuple[str, str, dict[str, str]]]:
        """From now on, every request head sent to the backend: (method, target, headers with
        lower-case names). The headers as the backend received them, whatever the client."""
        self.heads = []
        return self.heads

    def _capture(self, conn: _Conn, data: bytes) -> None:
        conn.seen += data
        for match in _HEAD.finditer(conn.seen):
            end = conn.seen_end + match.end()
            if end <= conn.heads_end:
                continue
            conn.heads_end = end
            lines = match.group(3).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            if self.heads is not None and len(self.heads) < 10_000:
                self.heads.append((match.group(1).decode(), match.group(2).decode(), headers))
        if len(conn.seen) > _HEAD_TAIL:
            drop = len(conn.seen) - _HEAD_TAIL
            del conn.seen[:drop]
            conn.seen_end += drop

    def _count(self, n: int, direction: str) -> None:
        if direction == "up":
            self._stats.bytes_up += n
        else:
            self._stats.bytes_down += n

    def _budget(self, data: bytes, direction: str) -> tuple[bytes, str | None]:
        """What may be forwarded of `data`, and whether the connection is cut after it."""
        fault = self._fault
        if fault.blackhole_after is not None and fault.applies(direction):
            left = fault.blackhole_after - self._counted
            if left >= len(data):
                self._counted += len(data)
                return data, None
            self._counted = fault.blackhole_after
            self._fault = replace(fault, blackhole=True, blackhole_after=None)
            self._fired.set()
            self._stats.dropped += len(data) - max(left, 0)
            return data[: max(left, 0)], None
        if fault.cut_after is None or not fault.applies(direction):
            return data, None
        left = fault.cut_after - self._counted
        if left >= len(data):
            self._counted += len(data)
            return data, None
        self._counted = fault.cut_after
        if fault.once:
            self._fault = replace(fault, cut_after=None)
        return data[: max(left, 0)], fault.how

    def _half_close(self, conn: _Conn) -> None:
        """FIN both ways, then read and drop whatever still comes (closing a socket with unread
        bytes would send an RST instead), for at most two seconds."""
        conn.draining = True
        for writer in (conn.client, conn.target):
            if writer is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
        asyncio.get_running_loop().call_later(2.0, lambda: self._close(conn, reset=False))

    def _close(self, conn: _Conn, *, reset: bool) -> None:
        if conn.closed:
            self._conns.discard(conn)
            return
        conn.closed = True
        self._conns.discard(conn)
        for writer in (conn.client, conn.target):
            if writer is None:
                continue
            if reset:
                _linger_zero(writer)
                writer.transport.abort()
            else:
                writer.close()
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current and not task.done():
                task.cancel()
