"""The fault proxy against a tiny echo server: each fault does what it says, then heals.

Timing is only ever checked as a lower bound (a sleep lasts at least as long as asked).
"""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.slow

KIB = 1024


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        received = 0
        try:
            while data := self.request.recv(64 * KIB):
                received += len(data)
                self.request.sendall(data)
        except OSError:
            pass
        finally:
            self.server.received.append(received)  # type: ignore[attr-defined]


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.received: list[int] = []


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def proxy(echo) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo.server_address[1]) as p:
        yield p


def connect(proxy: FaultProxy, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def exchange(sock: socket.socket, payload: bytes) -> bytes:
    """Sends `payload` while reading the echo back, until it is all back or the peer stops."""
    got = bytearray()
    sock.sendall(payload)
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        # A reset that arrived after the send left the socket CLOSED (RFC 9293 3.10.7.4): there
        # is no connection to half-close, so shutdown(2) fails with ENOTCONN. Reported as what
        # it is, the peer's reset; whether the next recv would still say so depends on timing.
        if exc.errno != errno.ENOTCONN:
            raise
        raise ConnectionResetError(errno.ECONNRESET, "reset before the half-close") from exc
    while len(got) < len(payload):
        data = sock.recv(64 * KIB)
        if not data:
            break
        got += data
    return bytes(got)


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_healthy_proxy_forwards_and_counts(proxy):
    payload = bytes(range(256)) * 1024
    with connect(proxy) as sock:
        assert exchange(sock, payload) == payload
    assert wait_for(lambda: proxy.stats().active == 0)
    stats = proxy.stats()
    assert (stats.accepted, stats.bytes_up, stats.bytes_down) == (1, len(payload), len(payload))
    assert stats.cuts == 0


def test_latency_delays_every_chunk(proxy):
    proxy.fault(latency=0.3, direction="down")
    with connect(proxy) as sock:
        started = time.monotonic()
        assert exchange(sock, b"ping") == b"ping"
        assert time.monotonic() - started >= 0.3


def test_bandwidth_throttles(proxy):
    proxy.fault(bandwidth=512 * KIB, direction="up")
    payload = b"x" * (256 * KIB)
    with connect(proxy) as sock:
        started = time.monotonic()
        assert exchange(sock, payload) == payload
        assert time.monotonic() - started >= 0.45  # 256 KiB at 512 KiB/s, less rounding


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_cut_after_n_bytes(proxy, echo, how, direction):
    proxy.fault(cut_after=100_000, direction=direction, how=how)
    payload = b"y" * 300_000
    with connect(proxy) as sock:
        got = bytearray()
        try:
            got += exchange(sock, payload)
            while data := sock.recv(64 * KIB):  # an orderly cut ends in EOF
                got += data
            assert how == "close", "a reset must not end in an orderly EOF"
        except ConnectionResetError:
            assert how == "reset"
        except BrokenPipeError:
            assert how == "reset"
    assert proxy.wait_fired(5)
    if how == "close" and direction == "down":
        assert len(got) == 100_000  # exactly N bytes came back, then EOF
    else:  # the cut ends both directions: what the echo had not yet sent back never comes
        assert len(got) <= 100_000
    assert wait_for(lambda: len(echo.received) == 1)
    if direction == "up":  # an RST may discard what the kernel had not sent yet
        assert echo.received == [100_000] if how == "close" else echo.received[0] <= 100_000
    assert proxy.stats().cuts == 1
    # once: the next connection is healthy
    with connect(proxy) as sock:
        assert exchange(sock, payload) == payload


def test_cut_counts_bytes_over_all_connections(proxy, echo):
    proxy.fault(cut_after=150, direction="up")
    with connect(proxy) as first:
        assert exchange(first, b"a" * 100) == b"a" * 100
    with connect(proxy) as second:
        exchange(second, b"b" * 100)
    # byte 150 of the transfer was the 50th of the second connection
    assert wait_for(lambda: len(echo.received) == 2)
    assert echo.received == [100, 50]


def test_cut_not_once_cuts_every_connection(proxy):
    proxy.fault(cut_after=0, direction="up", once=False)
    for _ in range(2):
        with connect(proxy) as sock:
            assert exchange(sock, b"zzz") == b""
    assert proxy.stats().cuts == 2


def test_blackhole_accepts_reads_and_never_answers(proxy, echo):
    proxy.fault(blackhole=True)
    with connect(proxy, timeout=0.5) as sock:
        sock.sendall(b"q" * 10_000)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert wait_for(lambda: proxy.stats().dropped == 10_000)
        proxy.clear()  # the black-holed connection is broken for good: reset
        sock.settimeout(5)
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"more")
            sock.recv(1)
    assert echo.received == []  # nothing ever reached the target
    with connect(proxy) as sock:
        assert exchange(sock, b"back") == b"back"


def test_blackhole_stalls_open_connections_too(proxy):
    with connect(proxy, timeout=0.5) as sock:
        assert exchange_some(sock, b"before") == b"before"
        proxy.fault(blackhole=True)
        sock.sendall(b"during")
        with pytest.raises(TimeoutError):
            sock.recv(1)
        proxy.clear()


def exchange_some(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += sock.recv(1024)
    return got


def test_reset_all_and_refuse(proxy):
    with connect(proxy) as sock:
        assert exchange_some(sock, b"hi") == b"hi"
        assert proxy.reset_all() == 1
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
    proxy.fault(refuse=True)
    # the reset may come at connect or at first use
    with pytest.raises((ConnectionResetError, BrokenPipeError)), connect(proxy) as sock:
        sock.sendall(b"x")
        sock.recv(1)
    assert proxy.wait_fired(1)
    proxy.clear()
    with connect(proxy) as sock:
        assert exchange(sock, b"ok") == b"ok"
    assert wait_for(lambda: proxy.stats().active == 0)


def test_blackhole_after_n_bytes(proxy, echo):
    proxy.fault(blackhole_after=1000, direction="up")
    with connect(proxy, timeout=0.5) as sock:
        sock.sendall(b"w" * 3000)
        assert proxy.wait_fired(5)
        with pytest.raises(TimeoutError):  # the hole swallows both ways, the echo included
            sock.recv(4096)
        assert wait_for(lambda: proxy.stats().dropped >= 2000)
        proxy.clear()
    assert wait_for(lambda: echo.received == [1000])  # what came before the hole went through
