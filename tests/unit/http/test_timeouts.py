"""gateway/http/timeouts.py: a body that stops arriving ends in 408 and a closed connection;
a request head that never completes ends in a closed connection; neither waits forever."""

from __future__ import annotations

import asyncio
import json
from unittest import mock

import pytest
from aiohttp import ClientPayloadError, web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from gateway.http.shares import SHARE
from gateway.http.timeouts import (
    RATE_FLOOR,
    BodyStalled,
    HeaderTimeoutHandler,
    RateFloor,
    SendStalled,
    body_idle_timeout,
    send_within,
)
from gateway.stores.budget import Share

IDLE = 0.05  # the body idle limit under test; every wait below is bounded by WAIT
WAIT = 10.0


def _request(body: StreamReader | None, protocol: mock.Mock) -> web.Request:
    kwargs = {} if body is None else {"payload": body}
    return make_mocked_request("PUT", "/api/2.0/x", protocol=protocol, **kwargs)


def _reading(seen: list[BaseException]):
    """A handler that reads the whole body and echoes it, noting what its read raised."""

    async def reader(request: web.Request) -> web.StreamResponse:
        try:
            return web.Response(body=await request.read())
        except BaseException as exc:
            seen.append(exc)
            raise

    return reader


async def _through_middleware(chunks: list[bytes], eof: bool, handler=None):
    protocol = mock.Mock()
    body = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        body.feed_data(chunk)
    if eof:
        body.feed_eof()
    seen: list[BaseException] = []
    reader = _reading(seen)
    middleware = body_idle_timeout(IDLE)
    response = await asyncio.wait_for(middleware(_request(body, protocol), handler or reader), WAIT)
    return response, protocol, seen


def test_a_stalled_body_is_answered_408_and_the_connection_closed():
    response, protocol, seen = asyncio.run(_through_middleware([b"half of it"], eof=False))
    assert response.status == 408
    body = json.loads(response.body)
    assert body["error_code"] == "BAD_REQUEST" and "nothing was stored" in body["message"]
    assert response.keep_alive is False
    protocol.close.assert_called_once()
    (error,) = seen
    # what stores see: the client's failure, as a disconnect; and a timeout for aiohttp
    assert isinstance(error, BodyStalled)
    assert isinstance(error, ClientPayloadError) and isinstance(error, TimeoutError)


def test_a_body_that_arrives_passes_untouched():
    response, protocol, seen = asyncio.run(_through_middleware([b"all ", b"of it"], eof=True))
    assert (response.status, response.body, seen) == (200, b"all of it", [])
    assert response.keep_alive is not False
    protocol.close.assert_not_called()


def test_a_handler_error_that_is_not_a_stall_is_not_turned_into_408():
    async def broken(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("a bug of its own")

    with pytest.raises(RuntimeError, match="a bug of its own"):
        asyncio.run(_through_middleware([], eof=True, handler=broken))


def test_a_request_without_a_body_goes_straight_to_the_handler():
    protocol = mock.Mock()

    async def run() -> web.StreamResponse:
        return await body_idle_timeout(IDLE)(_request(None, protocol), lambda r: _ok())

    answered = asyncio.run(run())
    assert answered.status == 204 and answered.keep_alive is not False
    protocol.close.assert_not_called()


async def _ok() -> web.Response:
    return web.Response(status=204)


async def _exchange(head: bytes, header_timeout: float, first: bytes = b"") -> bytes:
    """Connects to a server with the gateway's protocol, has `first` (a whole request) answered,
    sends `head`, and returns all it got back until the server closed the connection."""
    loop = asyncio.get_running_loop()
    manager = web.Server(lambda request: _ok())
    server = await loop.create_server(
        lambda: HeaderTimeoutHandler(manager, loop=loop, header_timeout=header_timeout),
        "127.0.0.1",
        0,
    )
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answered = b""
        if first:
            writer.write(first)
            answered = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        writer.write(head)
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), WAIT)  # EOF: the server closed
        writer.close()
        return answered + received
    finally:
        server.close()
        await server.wait_closed()
        await manager.shutdown(1)


def test_a_head_that_never_completes_is_closed_unanswered():
    assert asyncio.run(_exchange(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow", 0.1)) == b""


def test_a_connection_that_sends_nothing_is_closed():
    assert asyncio.run(_exchange(b"", 0.1)) == b""


def test_the_clock_starts_again_with_the_first_byte_of_a_later_request():
    first = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    got = asyncio.run(_exchange(b"GET /again HTTP/1.1\r\nHo", 0.1, first=first))
    assert got.startswith(b"HTTP/1.1 204") and got.count(b"HTTP/1.1") == 1


def test_a_partial_head_pipelined_behind_a_whole_request_is_timed_too():
    """A complete request and the start of the next in one packet: the second head's clock
    ran nowhere (noticed in review), so the connection stayed open as long as the client liked."""
    packet = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /again HTTP/1.1\r\nHo"
    got = asyncio.run(_exchange(packet, 0.1))
    assert got.startswith(b"HTTP/1.1 204") and got.count(b"HTTP/1.1") == 1


def test_a_body_sent_with_its_head_is_not_taken_for_a_next_head():
    """The clock starts for bytes after a bodiless head only: a PUT's body is not a head."""
    from gateway.http.timeouts import _next_head_begun

    assert _next_head_begun(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n")
    assert not _next_head_begun(b"PUT / HTTP/1.1\r\nContent-Length: 9\r\n\r\nsome body")
    assert not _next_head_begun(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab")
    assert not _next_head_begun(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")


async def _dripped(
    floor: RateFloor, share: Share | None = None, drips: int = int(WAIT / 0.01)
) -> tuple[web.Response, list]:
    """A body of `drips` bytes fed a byte every 10 ms (each wait far under the idle limit)
    through the middleware with `floor`."""
    protocol = mock.Mock()
    body = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    request = _request(body, protocol)
    if share is not None:
        request[SHARE] = share
    seen: list[BaseException] = []

    async def drip() -> None:
        for _ in range(drips):
            body.feed_data(b"x")
            await asyncio.sleep(0.01)
        body.feed_eof()

    feeder = asyncio.create_task(drip())
    try:
        middleware = body_idle_timeout(WAIT, floor)
        return await asyncio.wait_for(middleware(request, _reading(seen)), WAIT * 2), seen
    finally:
        feeder.cancel()


def test_a_body_that_drips_below_the_rate_floor_is_cut_off_after_the_grace():
    """Review finding 1: 1 byte every few seconds kept an upload (and its budget) for as long
    as the idle limit was never reached."""
    response, seen = asyncio.run(_dripped(RateFloor(rate=10_000, grace=0.2)))
    assert response.status == 408 and "below 10000 bytes/s" in json.loads(response.body)["message"]
    assert isinstance(seen[0], BodyStalled)


def test_time_the_gateway_made_a_body_wait_for_budget_is_not_held_against_it():
    share = Share("user:patient", waited=WAIT * 10)  # as if it had waited that long for budget
    response, seen = asyncio.run(_dripped(RateFloor(rate=10_000, grace=0.05), share, 20))
    assert response.status == 200 and seen == []


def test_a_response_the_client_does_not_read_is_cut_off_at_the_rate_floor():
    """The send timeout: a write that never completes ends in SendStalled, not a hang."""

    async def run() -> None:
        app = web.Application()
        app[RATE_FLOOR] = RateFloor(rate=1000, grace=0.05)
        request = make_mocked_request("GET", "/x", app=app)
        never = asyncio.get_running_loop().create_future()
        started = asyncio.get_running_loop().time()
        with pytest.raises(SendStalled):
            await asyncio.wait_for(send_within(request, never, started, 10), WAIT)
        assert never.cancelled()

    asyncio.run(run())
