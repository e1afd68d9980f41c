"""gateway.http.aiohttp_internals against the installed aiohttp: each internal still exists and
behaves as the gateway assumes, so an aiohttp upgrade that changes one fails here."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import _default_expect_handler

from gateway.http.aiohttp_internals import (
    ETAG_ANY,
    BaseTimerContext,
    ETag,
    awaiting_head,
    expect_100_continue,
    heads_parsed,
    set_body_timer,
)


class RecordingTimer(BaseTimerContext):
    def __init__(self) -> None:
        self.entered = self.exited = 0
        self.expired = False

    def assert_timeout(self) -> None:
        if self.expired:
            raise TimeoutError("stalled")

    def __enter__(self) -> RecordingTimer:
        self.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited += 1


def test_the_body_timer_wraps_each_wait_for_body_bytes_and_can_fail_reads():
    async def scenario() -> RecordingTimer:
        protocol = mock.Mock(_reading_paused=False)
        reader = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
        timer = RecordingTimer()
        set_body_timer(reader, timer)
        read = asyncio.ensure_future(reader.read(5))
        await asyncio.sleep(0)  # the read now waits for bytes, inside the timer
        assert (timer.entered, timer.exited) == (1, 0)
        reader.feed_data(b"hello")
        assert await read == b"hello" and timer.exited == 1
        timer.expired = True
        reader.feed_data(b"more")
        with pytest.raises(TimeoutError, match="stalled"):
            await reader.read(4)  # even with bytes buffered
        return timer

    assert asyncio.run(scenario()).entered == 1


def test_the_connection_state_a_header_timeout_reads():
    """Half a head: waiting for it, none parsed; the rest: one parsed, not waiting; then the
    keep-alive connection waits for the next head."""
    seen: list[tuple[int, bool]] = []

    class Probe(web.RequestHandler):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            seen.append((heads_parsed(self), awaiting_head(self)))

    async def answer(request: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")

    async def send(writer: asyncio.StreamWriter, data: bytes) -> tuple[int, bool]:
        count = len(seen)
        writer.write(data)
        for _ in range(500):  # bounded: 5 s at most
            if len(seen) > count:
                return seen[-1]
            await asyncio.sleep(0.01)
        raise AssertionError("the server never received the bytes")

    async def scenario() -> list[tuple[int, bool]]:
        loop = asyncio.get_running_loop()
        manager = web.Server(answer)
        server = await loop.create_server(lambda: Probe(manager, loop=loop), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            states = [await send(writer, b"GET / HTTP/1.1\r\nHost: x\r\n")]
            states.append(await send(writer, b"\r\n"))
            assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
            states.append(await send(writer, b"GET /again HTTP/1.1\r\n"))
        finally:
            writer.close()
            server.close()
            await server.wait_closed()
            await manager.shutdown(1)
        return states

    assert asyncio.run(scenario()) == [(0, True), (1, False), (1, True)]


class RecordingWriter:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.output_size = 7

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        self.output_size += len(data)


def _outcome(handler, version, expect: str) -> tuple[list[bytes], int, str | None]:
    writer = RecordingWriter()
    request = make_mocked_request(
        "PUT", "/a", headers={"Expect": expect}, version=version, writer=writer
    )
    try:
        asyncio.run(handler(request))
        refusal = None
    except web.HTTPExpectationFailed as exc:
        refusal = f"{exc.status} {exc.text}"
    return writer.written, writer.output_size, refusal


@pytest.mark.parametrize(
    ("version", "expect"),
    [
        (HttpVersion11, "100-continue"),
        (HttpVersion11, "100-Continue"),
        (HttpVersion11, "200-ok"),
        (HttpVersion11, ""),
        (HttpVersion10, "100-continue"),
    ],
)
def test_the_expect_handler_answers_as_aiohttps_own(version, expect):
    ours = _outcome(expect_100_continue, version, expect)
    assert ours == _outcome(_default_expect_handler, version, expect)
    if version == HttpVersion11 and expect.lower() == "100-continue":
        assert ours == ([b"HTTP/1.1 100 Continue\r\n\r\n"], 0, None)


def test_etags_of_conditional_headers():
    request = make_mocked_request("GET", "/", headers={"If-Match": "*"})
    assert request.if_match == (ETag(value=ETAG_ANY, is_weak=False),)
    request = make_mocked_request("GET", "/", headers={"If-None-Match": 'W/"a", "b"'})
    assert request.if_none_match == (ETag("a", is_weak=True), ETag("b", is_weak=False))
