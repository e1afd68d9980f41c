"""S3 over a plain TCP socket: one GET to a signed URL, headers parsed here, and the rest of the
socket left as a `SocketDownload` for the HTTP layer to splice to the client in the kernel; and
one small PUT the same way.

Connections are kept alive (RFC 9112 section 9.3) and reused: a socket goes back to a small
per-address pool once its answer has been read to the end, and only then. A pooled socket the
backend has closed meanwhile is found on reuse (readable before a request, or no answer at
all) and the request is sent once more on a fresh connection: a GET, or a PUT of the same bytes
to the same key, may be repeated (RFC 9110 section 9.2.2).

Only for plain-HTTP backends (MinIO, SeaweedFS in the same cluster). Anything unusual in the
answer (an error status, chunked or encoded bodies, no length) returns None before a byte is
sent to the client, and the caller takes the normal path, which also reports the error.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import ipaddress
import select
import socket
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable
from datetime import timezone
from typing import TypeVar

from gateway.stores.base import FileStat
from gateway.stores.body_reads import READ_PIECE
from gateway.stores.capabilities import SocketDownload
from gateway.stores.digests import parse_hex

# A bound on the response head, so a misbehaving backend cannot grow it without end; aiohttp's
# own client bounds each line at 8190 bytes (`max_line_size`, `max_field_size`).
MAX_HEADER = 64 * 1024
T = TypeVar("T")
POOL_SIZE = 32  # idle connections kept per backend address; more are closed
POOL_IDLE = 4.0  # seconds an idle connection is kept: below MinIO's and SeaweedFS's idle limits


class _Pool:
    """Idle keep-alive sockets per address, newest first; bounded in count and idle time."""

    def __init__(self) -> None:
        self._idle: dict[tuple, collections.deque[tuple[float, socket.socket]]] = {}

    def take(self, address: tuple) -> socket.socket | None:
        idle = self._idle.get(address)
        now = time.monotonic()
        while idle:
            since, sock = idle.pop()
            # readable while idle: the backend closed it (EOF) or sent something unasked
            if now - since < POOL_IDLE and not select.select([sock], [], [], 0)[0]:
                return sock
            sock.close()
        return None

    def give(self, address: tuple, sock: socket.socket) -> None:
        idle = self._idle.setdefault(address, collections.deque())
        idle.append((time.monotonic(), sock))
        while len(idle) > POOL_SIZE:
            idle.popleft()[1].close()

    def close(self, netloc: str) -> int:
        """Closes the idle sockets to `netloc` (every address it resolved to); how many."""
        closed = 0
        for address in [key for key in self._idle if key[0] == netloc]:
            for _, sock in self._idle.pop(address):
                sock.close()
                closed += 1
        return closed


_pool = _Pool()


class _PooledDownload(SocketDownload):
    """Back to the pool when closed after its last byte was read; closed otherwise."""

    address: tuple = ()
    reusable = False

    async def close(self) -> None:
        if self.reusable and self.remaining <= 0 and self.sock.fileno() >= 0:
            self.reusable = False
            _pool.give(self.address, self.sock)
        else:
            self.sock.close()


def close_idle(url: str) -> int:
    """Closes the pooled idle connections to `url`'s endpoint, for a store that closes (no
    socket outlives the process's stores); in-flight ones close when their answer is done.
    Stores sharing an endpoint share its sockets: another one's next request connects anew."""
    return _pool.close(urllib.parse.urlsplit(url).netloc)


def plain_http(url: str | None) -> bool:
    """An http:// endpoint reached without a proxy: the only kind a raw socket may talk to."""
    if not url or not url.lower().startswith("http://"):
        return False
    host = urllib.parse.urlsplit(url).hostname or ""
    return "http" not in urllib.request.getproxies() or bool(urllib.request.proxy_bypass(host))


async def open_get(
    url: str, headers: dict[str, str], connect_timeout: float, read_timeout: float
) -> SocketDownload | None:
    """GET `url` (already signed); None unless it is a plain 200/206."""
    exchange = await _exchange("GET", url, headers, b"", connect_timeout, read_timeout)
    sock, head, rest, address = exchange
    try:
        download = _parse(sock, head, rest, read_timeout)
    except BaseException:
        sock.close()
        raise
    if download is None:
        sock.close()
        return None
    download.address, download.reusable = address, _keeps_alive(head)
    return download


async def put_small(
    url: str, headers: dict[str, str], body: bytes, connect_timeout: float, read_timeout: float
) -> bool:
    """PUT `body` to `url` with `headers` (already signed); True only for a 200.

    Anything else is for the caller's normal path to do again and to report: the body is in
    memory, and a PUT of the same bytes to the same key may be repeated."""
    headers = {**headers, "Content-Length": str(len(body))}
    exchange = await _exchange("PUT", url, headers, body, connect_timeout, read_timeout)
    sock, head, rest, address = exchange
    ok = head.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 "))
    if ok and _keeps_alive(head) and _content_length(head) == len(rest):
        _pool.give(address, sock)  # the answer read to its end: the socket is clean
    else:
        sock.close()
    return ok


async def head(
    url: str, headers: dict[str, str], connect_timeout: float, read_timeout: float
) -> FileStat | None:
    """HEAD `url` (already signed): the object's stat, or None unless a plain 200."""
    sock, answer, rest, address = await _exchange(
        "HEAD", url, headers, b"", connect_timeout, read_timeout
    )
    stat = None
    try:
        status, fields = _fields(answer)
        if status == "200":
            stat = _stat(fields, int(fields["content-length"]))
    except (KeyError, ValueError, TypeError):
        stat = None
    if stat is not None and not rest and _keeps_alive(answer):
        _pool.give(address, sock)  # a HEAD answer has no body (RFC 9110 section 9.3.2)
    else:
        sock.close()
    return stat


async def get_small(
    url: str, limit: int, connect_timeout: float, read_timeout: float
) -> bytes | None:
    """GET `url` (already signed) and read its body whole: only a 200 with a `Content-Length`
    of at most `limit` bytes (a ListObjectsV2 page), None otherwise."""
    sock, answer, rest, address = await _exchange(
        "GET", url, {}, b"", connect_timeout, read_timeout
    )
    body = None
    try:
        status, fields = _fields(answer)
        length = int(fields.get("content-length", "-1"))
        if status == "200" and "transfer-encoding" not in fields and len(rest) <= length <= limit:
            body = await _within(_read_rest(sock, rest, length), read_timeout)
    except (ValueError, OSError, ConnectionError, TimeoutError):
        body = None
    finally:
        if body is not None and _keeps_alive(answer):
            _pool.give(address, sock)  # read to its end
        else:
            sock.close()
    return body


async def _read_rest(sock: socket.socket, rest: bytes, length: int) -> bytes:
    loop, pieces, have = asyncio.get_running_loop(), [rest], len(rest)
    while have < length:  # bounded: each piece is at least one byte, or the end raises
        piece = await loop.sock_recv(sock, min(READ_PIECE, length - have))
        if not piece:
            raise ConnectionError("backend closed before the end of the body")
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


def _keeps_alive(head: bytes) -> bool:
    """HTTP/1.1 without `Connection: close` (RFC 9112 section 9.3)."""
    lowered = head.lower()
    return lowered.startswith(b"http/1.1 ") and b"\r\nconnection: close" not in lowered


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip()) if value.strip().isdigit() else None
    return None


async def _exchange(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    connect_timeout: float,
    read_timeout: float,
) -> tuple[socket.socket, bytes, bytes, tuple]:
    """Sends one request on a pooled connection, or a fresh one; the socket, the response
    head, what came after it, and the pool's key. The socket is the caller's to close or give
    back."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    loop = asyncio.get_running_loop()
    family, address = await _address(loop, parts.hostname or "", parts.port or 80)
    key = (parts.netloc, family, address)
    if (sock := _pool.take(key)) is not None:
        try:
            return (*await _send(loop, sock, request, read_timeout), key)
        except (OSError, ConnectionError):
            pass  # closed by the backend while idle: once more, on a fresh connection
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await _within(loop.sock_connect(sock, address), connect_timeout)
    except BaseException:
        sock.close()
        raise
    return (*await _send(loop, sock, request, read_timeout), key)


async def _send(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, request: bytes, read_timeout: float
) -> tuple[socket.socket, bytes, bytes]:
    """The request on `sock`, and the answer's head, under one deadline; `sock` closed on any
    failure."""
    try:
        head, rest = await _within(_exchange_once(loop, sock, request), read_timeout)
    except BaseException:
        sock.close()
        raise
    return sock, head, rest


async def _exchange_once(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, request: bytes
) -> tuple[bytes, bytes]:
    await loop.sock_sendall(sock, request)
    return await _read_head(loop, sock)


async def _within(step: Awaitable[T], seconds: float) -> T:
    """`step` bounded by one timer: `wait_for` wraps a coroutine in a task of its own on
    3.10-3.11 (CPython `asyncio.tasks.wait_for` -> `ensure_future`); `asyncio.timeout` does not."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await step
    return await asyncio.wait_for(step, seconds)


async def _address(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> tuple[socket.AddressFamily, tuple]:
    """An address literal as it is: asyncio's `getaddrinfo` hands every lookup, a literal too,
    to the default executor (CPython `BaseEventLoop.getaddrinfo` -> `run_in_executor`)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return infos[0][0], infos[0][4]
    if literal.version == 6:
        return socket.AF_INET6, (str(literal), port, 0, 0)
    return socket.AF_INET, (str(literal), port)


async def _read_head(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_HEADER:
            raise ConnectionError("backend sent an oversized response head")
        piece = await loop.sock_recv(sock, READ_PIECE)
        if not piece:
            raise ConnectionError("backend closed before the response head")
        data += piece
    return data[:end], data[end + 4 :]


def _fields(head: bytes) -> tuple[str, dict[str, str]]:
    """The status code and the lowercased header fields of a response head."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return (fields[1] if len(fields) > 1 else ""), headers


def _stat(headers: dict[str, str], size: int) -> FileStat:
    modified = email.utils.parsedate_to_datetime(headers["last-modified"])
    sha256 = parse_hex(headers.get("x-amz-meta-sha256"))  # the object's digest, store.py
    return FileStat(size, headers["etag"], modified.astimezone(timezone.utc), sha256)


def _parse(
    sock: socket.socket, head: bytes, rest: bytes, read_timeout: float
) -> SocketDownload | None:
    status, headers = _fields(head)
    if status not in ("200", "206"):
        return None
    if "transfer-encoding" in headers or headers.get("content-encoding", "identity") != "identity":
        return None
    try:
        length = int(headers["content-length"])
        size, start = length, 0
        if status == "206":
            span, _, total = headers["content-range"].removeprefix("bytes ").partition("/")
            size, start = int(total), int(span.split("-")[0])
        stat = _stat(headers, size)
    except (KeyError, ValueError, TypeError):
        return None
    if len(rest) > length:
        return None
    return _PooledDownload(sock, rest, stat, (start, start + length), read_timeout)
