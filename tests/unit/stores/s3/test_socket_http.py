"""The raw path's keep-alive pool: sockets go back after a whole answer, and a store that
closes closes them (nothing leaks at shutdown)."""

from __future__ import annotations

import asyncio

from gateway.config import S3Transfer
from gateway.stores.s3 import socket_http
from gateway.stores.s3.options import S3Options
from gateway.stores.s3.store import S3Store

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive backend: a 200 for every request head until the client hangs up."""
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _idle(url: str) -> list:
    netloc = url.removeprefix("http://")
    return [
        sock
        for key, idle in socket_http._pool._idle.items()
        if key[0] == netloc
        for _, sock in idle
    ]


async def _pooled_then_closed() -> tuple[int, int, list[int]]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    options = S3Options(
        uri="s3://bucket/p",
        endpoint_url=url,
        region="us-east-1",
        access_key_id="AKIDPOOL",
        secret_access_key="pool-secret",
    )
    store = S3Store(options, S3Transfer(), 1024 * 1024)
    await store.start()
    try:
        for _ in range(2):  # the second PUT reuses the first one's socket
            assert await socket_http.put_small(f"{url}/bucket/p/k", {}, b"x", 2, 2)
        pooled = _idle(url)
        count = len(pooled)
    finally:
        await store.close()
        server.close()
        await server.wait_closed()
    return count, len(_idle(url)), [sock.fileno() for sock in pooled]


def test_a_closing_store_closes_its_pooled_connections() -> None:
    pooled, left, filenos = asyncio.run(_pooled_then_closed())
    assert pooled == 1  # kept alive and reused, not one per request
    assert left == 0 and filenos == [-1]  # closed with the store, not left to the process


def test_close_idle_leaves_other_endpoints_alone() -> None:
    class _Sock:
        closed = False

        def close(self) -> None:
            self.closed = True

    pool, ours, theirs = socket_http._Pool(), _Sock(), _Sock()
    pool.give(("127.0.0.1:1", 2, ("127.0.0.1", 1)), ours)
    pool.give(("127.0.0.1:2", 2, ("127.0.0.1", 2)), theirs)
    assert pool.close("127.0.0.1:1") == 1
    assert ours.closed and not theirs.closed
