"""Time limits on a client connection: sending the request headers, and each wait for body bytes.

aiohttp bounds neither. A client could send its headers a byte at a time, or stop halfway
through a body, and hold the connection (and an upload in progress) for as long as it liked.
"""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger(__name__)

# After a stalled body the answer gets this long to be written before the socket is closed.
CLOSE_GRACE = 5.0


class BodyStalled(ClientPayloadError, TimeoutError):
    """No body byte within the idle timeout.

    A ClientPayloadError, so stores treat it as the client's failure, as with a disconnect
    (nothing is stored); a TimeoutError, so aiohttp's read of the rest after the answer
    ("lingering") gives up on it quietly.
    """


class _BodyIdleTimer(BaseTimerContext):
    """aiohttp's StreamReader enters its timer around every wait for body bytes; this one
    fails the body (every reader, in any task, sees BodyStalled) once a wait lasts too long."""

    def __init__(self, request: web.Request, seconds: float) -> None:
        self._request = request
        self._seconds = seconds
        self._handle: asyncio.TimerHandle | None = None
        self.expired: BodyStalled | None = None

    def assert_timeout(self) -> None:
        if self.expired is not None:
            raise self.expired

    def __enter__(self) -> _BodyIdleTimer:
        self.assert_timeout()
        self._handle = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        request = self._request
        self.expired = BodyStalled(f"no request body bytes for {self._seconds:g} s")
        log.info(
            "%s %s: the request body stalled for %g s; closing the connection",
            request.method,
            request.path,
            self._seconds,
        )
        request.content.set_exception(self.expired)
        request.protocol.close()  # no further request on this connection
        if (transport := request.transport) is not None:
            asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.close)


def body_idle_timeout(seconds: float) -> Middleware:
    """Every route's body reads, the passthrough's included, get the idle limit: 408, closed."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        timer = _BodyIdleTimer(request, seconds)
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
        if parsed != self._heads_seen:  # a whole head arrived
            self._heads_seen = parsed
            self._disarm()
        if data and self._head_timer is None and awaiting_head(self):
            self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self._header_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if awaiting_head(self):
            log.info(
                "closing a connection from %s: no complete request head within %g s",
                self.peername,
                self._header_timeout,
            )
            self.force_close()
