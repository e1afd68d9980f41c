"""Time limits on a client connection: sending the request headers, each wait for body bytes,
and the average rate of a body or a response (the rate floor).

aiohttp bounds none of them. A client could send its headers a byte at a time, stop halfway
through a body, drip a body a byte every few seconds, or never read its answer, and hold the
connection (and an upload's or a download's share of the memory budget) as long as it liked.
Time a transfer spent waiting for the gateway's own budget is not held against the client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.typedefs import Handler, Middleware

from gateway.http.aiohttp_internals import (
    BaseTimerContext,
    awaiting_head,
    heads_parsed,
    set_body_timer,
)
from gateway.http.errors import error_json
from gateway.http.shares import share_of
from gateway.stores.budget import Share

log = logging.getLogger(__name__)

# After a stalled body the answer gets this long to be written before the socket is closed.
CLOSE_GRACE = 5.0


@dataclass(frozen=True)
class RateFloor:
    """A transfer must average `rate` bytes/s once `grace` seconds have passed."""

    rate: int
    grace: float

    def deadline(self, started: float, transferred: int, share: Share | None) -> float:
        """When a transfer that has moved `transferred` bytes falls below the floor."""
        waited = share.waited if share is not None else 0.0
        return started + waited + max(self.grace, transferred / self.rate)


RATE_FLOOR = web.AppKey("rate_floor", RateFloor)


class SendStalled(asyncio.TimeoutError):
    """The client did not take a response's bytes at the rate floor."""


async def send_within(
    request: web.Request, write: Awaitable[None], started: float, sent: int
) -> None:
    """`write` (of a response chunk, `sent` bytes included) must finish before the response
    falls below the rate floor: a client that stops reading holds its chunk's budget no longer."""
    floor = request.app.get(RATE_FLOOR)
    if floor is None:
        await write
        return
    loop = asyncio.get_running_loop()
    at = floor.deadline(started, sent, share_of(request))
    try:
        if sys.version_info >= (3, 11):  # no task per chunk, as `wait_for` makes on 3.10-3.11
            async with asyncio.timeout_at(at):
                await write
        else:
            await asyncio.wait_for(write, max(at - loop.time(), 0.0))
    except asyncio.TimeoutError as exc:
        raise SendStalled(f"the client read below {floor.rate} bytes/s") from exc


class BodyStalled(ClientPayloadError, TimeoutError):
    """No body byte within the idle timeout.

    A ClientPayloadError, so stores treat it as the client's failure, as with a disconnect
    (nothing is stored); a TimeoutError, so aiohttp's read of the rest after the answer
    ("lingering") gives up on it quietly.
    """


class _BodyIdleTimer(BaseTimerContext):
    """aiohttp's StreamReader enters its timer around every wait for body bytes; this one
    fails the body (every reader, in any task, sees BodyStalled) once a wait lasts longer than
    the idle limit, or the body's average rate falls below the floor."""

    def __init__(self, request: web.Request, seconds: float, floor: RateFloor | None) -> None:
        self._request = request
        self._seconds = seconds
        self._floor = floor
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._handle: asyncio.TimerHandle | None = None
        self.expired: BodyStalled | None = None

    def assert_timeout(self) -> None:
        if self.expired is not None:
            raise self.expired

    def _floor_deadline(self) -> float:
        if self._floor is None:
            return float("inf")
        received = self._request.content.total_bytes
        return self._floor.deadline(self._started, received, share_of(self._request))

    def __enter__(self) -> _BodyIdleTimer:
        self.assert_timeout()
        idle_at = self._loop.time() + self._seconds
        self._arm(idle_at)
        return self

    def _arm(self, idle_at: float) -> None:
        at = min(idle_at, self._floor_deadline())
        self._handle = self._loop.call_at(at, self._expire, idle_at)

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self, idle_at: float) -> None:
        self._handle = None
        now = self._loop.time()
        if now < idle_at and now < self._floor_deadline():
            self._arm(idle_at)  # budget waits moved the floor's deadline on
            return
        request = self._request
        if now >= idle_at:
            why = f"no request body bytes for {self._seconds:g} s"
        else:
            assert self._floor is not None
            why = f"the request body averaged below {self._floor.rate} bytes/s"
        self.expired = BodyStalled(why)
        log.info("%s %s: %s; closing the connection", request.method, request.path, why)
        request.content.set_exception(self.expired)
        request.protocol.close()  # no further request on this connection
        if (transport := request.transport) is not None:
            asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.close)


def body_idle_timeout(seconds: float, floor: RateFloor | None = None) -> Middleware:
    """Every route's body reads, the passthrough's included, get the idle limit and the rate
    floor: 408, closed."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        timer = _BodyIdleTimer(request, seconds, floor)
        set_body_timer(request.content, timer)
        try:
            response = await handler(request)
        except Exception:
            if timer.expired is None:
                raise
            response = error_json(
                408,
                "BAD_REQUEST",
                f"The request body stalled ({timer.expired}); nothing was stored",
            )
        if timer.expired is not None:
            response.force_close()
        return response

    return middleware


_BODY_FOLLOWS = re.compile(rb"\r\n(?:content-length:[ \t]*0*[1-9]|transfer-encoding:)", re.I)


def _next_head_begun(data: bytes) -> bool:
    """`data` ends with bytes after its last complete head, and that head announces no body:
    those bytes can only be the start of the next request's head."""
    end = data.rfind(b"\r\n\r\n")
    if end < 0 or end + 4 == len(data):
        return False
    start = data.rfind(b"\r\n\r\n", 0, end)
    head = data[start + 4 if start >= 0 else 0 : end + 2]
    return _BODY_FOLLOWS.search(head) is None


class HeaderTimeoutHandler(web.RequestHandler):
    """aiohttp's connection protocol with the header-read timeout aiohttp lacks.

    The clock starts when the connection opens, and again with the first byte of each later
    request; it stops when that request's head is complete. On expiry the connection is closed
    if it is still waiting for a head: the condition aiohttp's own keep-alive timer tests
    (`aiohttp_internals.awaiting_head`). Idle keep-alive connections stay with aiohttp's
    keep-alive timeout.
    """

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads_seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        parsed = heads_parsed(self)
        completed = parsed != self._heads_seen
        if completed:  # a whole head arrived
            self._heads_seen = parsed
            self._disarm()
        # Bytes after a bodiless head begin the next one (pipelining, RFC 9112 9.3.2): the
        # parser keeps them while the connection is busy with this request; the clock starts.
        pipelined = completed and _next_head_begun(data)
        if data and self._head_timer is None and (pipelined or awaiting_head(self)):
            self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse is the client's error: one INFO line (aiohttp logs
        a traceback at ERROR), an answer in MLflow's shape, and the connection closed; its
        access-log line follows as for any request."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        reason = (getattr(exc, "message", None) or message or "").strip().splitlines()
        log.info("unparsable request from %s: %s", request.remote, reason[0] if reason else status)
        response = error_json(status, "BAD_REQUEST", "The request could not be parsed")
        response.force_close()
        return response

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self._header_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not awaiting_head(self):
            # Busy with the request before: a head begun behind it waits its turn, and is
            # judged once the connection is free (a completed head disarms this timer).
            self._arm()
            return
        if awaiting_head(self):
            log.info(
                "closing a connection from %s: no complete request head within %g s",
                self.peername,
                self._header_timeout,
            )
            self.force_close()
