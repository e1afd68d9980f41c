"""Hostile clients on raw sockets, and the honest user they run beside (issue 23).

Each attacker is a thread holding one connection: a `Dripper` sends a request head announcing
a large body, then a byte every `interval` seconds; a `NonReader` sends a GET with a tiny
receive buffer and never reads the answer. `attacking` starts many and always stops them
(every socket closed, every thread joined) however the test ends. Clients are told apart by
`X-Forwarded-For` from a gateway that trusts 127.0.0.1: the gateway's share key is the client
address for anonymous callers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

import requests

ATTACKER = "10.66.0.1"
HONEST = "10.77.0.2"
REQUEST_TIMEOUT = 30.0  # an honest request waits at most this (an answer under attack takes ms)


def _connect(url: str, rcvbuf: int | None = None) -> socket.socket:
    parsed = urllib.parse.urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window is small from the handshake on
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((parsed.hostname, parsed.port))
    return sock


def head(
    url: str, method: str, target: str, length: int | None, forwarded: str = ATTACKER
) -> bytes:
    host = urllib.parse.urlsplit(url).netloc
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"X-Forwarded-For: {forwarded}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Attacker(threading.Thread):
    """One connection; `closed_by_gateway` tells whether the gateway ended it first."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.closed_by_gateway = False
        self.error: BaseException | None = None


class Dripper(Attacker):
    """Sends `start` (a head and maybe some body), then one byte every `interval` seconds."""

    def __init__(self, url: str, start: bytes, interval: float = 0.5) -> None:
        super().__init__()
        self.url, self.start_bytes, self.interval = url, start, interval

    def run(self) -> None:
        try:
            with _connect(self.url) as sock:
                sock.sendall(self.start_bytes)
                while not self.stop.wait(self.interval):
                    sock.send(b"d")
        except OSError:  # reset or broken pipe: the gateway cut it off
            self.closed_by_gateway = True
        except BaseException as exc:  # reported by `attacking`
            self.error = exc


class NonReader(Attacker):
    """A GET whose answer it never reads, with a 4 KiB receive buffer."""

    def __init__(self, url: str, target: str) -> None:
        super().__init__()
        self.url, self.target = url, target

    def run(self) -> None:
        try:
            with _connect(self.url, rcvbuf=4096) as sock:
                sock.sendall(head(self.url, "GET", self.target, None))
                while not self.stop.wait(0.5):
                    # Peek without consuming: only to learn whether the gateway hung up.
                    sock.setblocking(False)
                    try:
                        if sock.recv(1, socket.MSG_PEEK) == b"":
                            self.closed_by_gateway = True
                            return
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
        except OSError:
            self.closed_by_gateway = True
        except BaseException as exc:  # reported by `attacking`
            self.error = exc


@contextlib.contextmanager
def attacking(make: Callable[[int], Attacker], count: int) -> Iterator[list[Attacker]]:
    """`count` attackers running for the block's duration; all stopped and joined after."""
    attackers = [make(i) for i in range(count)]
    for attacker in attackers:
        attacker.start()
    try:
        time.sleep(0.5)  # every connection open and its head sent before the honest user goes
        yield attackers
    finally:
        for attacker in attackers:
            attacker.stop.set()
        for attacker in attackers:
            attacker.join(15)
    errors = [a.error for a in attackers if a.error is not None]
    assert not errors, errors


def honest_headers() -> dict[str, str]:
    return {"X-Forwarded-For": HONEST}


def honest_round(api: str, path: str, payload: bytes) -> list[tuple[str, float]]:
    """One small PUT and its GET back by the honest user: (what failed or "ok", seconds)."""
    results = []
    for method in ("PUT", "GET"):
        started = time.monotonic()
        try:
            response = requests.request(
                method,
                f"{api}/{path}",
                data=payload if method == "PUT" else None,
                headers=honest_headers(),
                timeout=REQUEST_TIMEOUT,
            )
            ok = response.status_code == 200 and (method == "PUT" or response.content == payload)
            outcome = "ok" if ok else f"{method} {response.status_code} {response.text[:200]}"
        except requests.RequestException as exc:
            outcome = f"{method} {type(exc).__name__}: {exc}"
        results.append((outcome, time.monotonic() - started))
    return results
