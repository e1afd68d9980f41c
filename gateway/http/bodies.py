"""Small request bodies read whole, under a limit: JSON requests and the UI's uploads."""

from __future__ import annotations

from aiohttp import web


async def read_limited(request: web.Request, limit: int) -> bytes:
    """At most `limit + 1` bytes, so a caller can tell a body over the limit from one at it."""
    pieces: list[bytes] = []
    remaining = limit + 1
    while remaining > 0 and (piece := await request.content.read(remaining)):
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


class InMemoryBody:
    """A body already in memory, as a store's ByteSource."""

    def __init__(self, data: bytes) -> None:
        self._view, self._pos = memoryview(data), 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._pos + n
        piece, self._pos = bytes(self._view[self._pos : end]), min(end, len(self._view))
        return piece
