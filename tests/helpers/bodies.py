"""Request bodies for stores called directly in tests: a ByteSource over bytes in memory."""

from __future__ import annotations


class Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, n: int = -1) -> bytes:
        out, self._data = (self._data, b"") if n < 0 else (self._data[:n], self._data[n:])
        return out
