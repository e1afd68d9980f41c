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


class InMemoryBody:
    """A body already in memory, as a store's ByteSource."""

    def __init__(self, data: bytes) -> None:
        self._view, self._pos = memoryview(data), 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._pos + n
        piece, self._pos = bytes(self._view[self._pos : end]), min(end, len(self._view))
        return piece
