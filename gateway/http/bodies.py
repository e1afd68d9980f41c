"""Small request bodies read whole, under a limit: JSON requests and the UI's uploads."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def read_limited(request: web.Request, limit: int) -> bytes:
    """At most `limit + 1` bytes, so a caller can tell a body over the limit from one at it."""
    pieces: list[bytes] = []
    remaining = limit + 1
    while remaining > 0 and (piece := await request.content.read(remaining)):
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


async def read_within(
    request: web.Request, limit: int, too_large: Callable[[int], Exception]
) -> bytes:
    """The whole body, or `too_large(size)` raised once it is known to exceed `limit`: by its
    Content-Length before a byte is read, else by what came (read only up to the limit)."""
    if (request.content_length or 0) > limit:
        raise too_large(request.content_length or 0)
    data = await read_limited(request, limit)
    if len(data) > limit:
        raise too_large(len(data))
    return data


class CappedBody:
    """A request body streamed to a store that fails once more than `limit` bytes came: the
    store sees an exception mid-body, as from a client that went away, and stores nothing."""

    def __init__(
        self, request: web.Request, limit: int, too_large: Callable[[int], Exception]
    ) -> None:
        if (request.content_length or 0) > limit:
            raise too_large(request.content_length or 0)
        self._body, self._limit, self._too_large = request.content, limit, too_large
        self.received = 0

    async def read(self, n: int = -1) -> bytes:
        data = await self._body.read(n)
        self.received += len(data)
        if self.received > self._limit:
            raise self._too_large(self.received)
        return data
