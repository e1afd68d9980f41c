"""Reading an upload body (a `ByteSource`) in pieces, blocks and exact chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.stores.base import ByteSource
from gateway.stores.errors import IncompleteBody

# The most asked of a stream in one read. aiohttp raises a StreamReader's buffer limits to
# twice the largest read ever asked of it (3.14 `set_read_chunk_size`), so reading an 8 MiB
# part in one call would let each upload connection buffer 16 MiB beyond the budget. At aiohttp's
# own chunk size the limits stay at their defaults, and a read rarely has to join buffers.
READ_PIECE = 256 * 1024


async def read_pieces(body: ByteSource, size: int) -> list[bytes]:
    """Reads until `size` bytes or the end of the body, keeping the pieces as they came."""
    pieces: list[bytes] = []
    remaining = size
    while remaining > 0:
        piece = await body.read(min(remaining, READ_PIECE))
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return pieces


async def read_block(body: ByteSource, size: int) -> bytes:
    """Reads until `size` bytes or the end of the body: uploads are cut into blocks this way."""
    pieces = await read_pieces(body, size)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


async def exact_chunks(body: ByteSource, size: int, chunk: int) -> AsyncIterator[bytes]:
    """Exactly `size` bytes of `body` in blocks of at most `chunk`; a shorter body is an error."""
    remaining = size
    while remaining > 0:
        block = await read_block(body, min(chunk, remaining))
        if not block:
            raise IncompleteBody(f"The request body ended {remaining} bytes early")
        remaining -= len(block)
        yield block


class Prefetched:
    """A ByteSource whose first bytes have been read already."""

    def __init__(self, body: ByteSource, first: bytes) -> None:
        self._body = body
        self._first: bytes | None = first

    async def read(self, size: int = -1) -> bytes:
        first, self._first = self._first, None
        if first is None:
            return await self._body.read(size)
        if size < 0 or len(first) <= size:
            return first
        self._first = first[size:]
        return first[:size]


async def arrived(body: ByteSource) -> ByteSource:
    """Waits for the body's first bytes and returns a source that yields them again: budget is
    reserved for bytes a client sends, not for a Content-Length it announces (a client that
    sends headers and then nothing holds no budget while the idle limit runs)."""
    if isinstance(body, Prefetched):  # a writer's next part: no wrapper around a wrapper
        if body._first is None:
            body._first = await body._body.read(READ_PIECE)
        return body
    return Prefetched(body, await body.read(READ_PIECE))
