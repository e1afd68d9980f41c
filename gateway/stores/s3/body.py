"""An upload body held as the pieces the client sent, handed to aiobotocore without a copy.

Given `bytes`, botocore wraps them in a BytesIO that aiohttp then unshares (`getbuffer()`), a
full copy of every part in flight; a bytearray is sliced (another copy), and Python 3.11's
transport copies whatever part of a large buffer the socket did not take at once. botocore
only needs to size, read (for payload signing) and rewind a body; aiohttp streams anything
async-iterable piece by piece. This class offers both over the original pieces.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

from gateway.stores.base import ByteSource
from gateway.stores.body_reads import read_pieces


class PiecesBody:
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces
        self._size = sum(len(piece) for piece in pieces)
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece

    def drop(self) -> None:
        """Frees the bytes once the part is stored, though callers may still hold this object."""
        self._pieces = []

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Bytes from the current position; botocore reads a few MiB at a time to sign them."""
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out, start, offset = [], self._pos, 0
        for piece in self._pieces:
            piece_end = offset + len(piece)
            if piece_end > start and offset < end:
                out.append(piece[max(start - offset, 0) : end - offset])
            if piece_end >= end:
                break
            offset = piece_end
        self._pos = end
        return b"".join(out)


async def read_part(body: ByteSource, size: int) -> PiecesBody:
    """Up to `size` bytes of `body`, kept as received."""
    return PiecesBody(await read_pieces(body, size))
