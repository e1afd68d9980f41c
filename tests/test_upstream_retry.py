"""Pooled connections to the tracking server are dropped before the server drops them.

The server here resets a kept-alive connection that is reused after more than IDLE_LIMIT
seconds idle, which is what a request meets when uvicorn closes an idle connection just as the
gateway sends on it. aiohttp resends an idempotent request once; with two such connections in
the pool the resend meets the second one, and the caller got a 502 (the 3.18 UI lost a script
chunk that way in CI). The gateway's `upstream.keepalive_timeout` is below that limit.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.helpers.stack import clean_env, start_gateway

IDLE_LIMIT = 3.0
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class StaleKeepAlive:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.resets = 0
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            last = time.monotonic()
            while not self.stop.is_set():
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    try:
                        piece = conn.recv(65536)
                    except OSError:
                        return
                    if not piece:
                        return
                    head += piece
                if time.monotonic() - last > IDLE_LIMIT:  # RST: linger on, zero seconds
                    self.resets += 1
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                conn.sendall(ANSWER)
                last = time.monotonic()


@pytest.fixture
def upstream() -> Iterator[StaleKeepAlive]:
    server = StaleKeepAlive()
    acceptor = threading.Thread(target=server.serve, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        server.stop.set()
        acceptor.join(timeout=10)
        for thread in server.threads:
            thread.join(timeout=10)
        server.sock.close()


def _burst(url: str, n: int) -> list[int]:
    """n requests at once: n pooled connections afterwards."""
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(requests.get(url, timeout=30).status_code))
        for _ in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_idle_pooled_connections_are_not_reused_after_the_server_drops_them(upstream, tmp_path):
    args = ["--artifacts-destination", str(tmp_path / "root")]
    args += ["--tracking-uri", f"http://127.0.0.1:{upstream.port}"]
    process, url = start_gateway(tmp_path, args, clean_env())
    try:
        search = f"{url}/api/2.0/mlflow/experiments/search"
        assert _burst(search, 4) == [200] * 4
        time.sleep(IDLE_LIMIT + 1)
        answered = requests.get(search, timeout=30)
        assert answered.status_code == 200, answered.text
        assert upstream.resets == 0
    finally:
        process.stop()
