"""A single HTTP byte range, resolved against a size only once the size is known."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.stores.errors import RangeNotSatisfiable


@dataclass(frozen=True)
class ByteRange:
    """`start` < 0 is a suffix (`bytes=-N`); `stop` is exclusive, None = to the end."""

    start: int
    stop: int | None = None

    @classmethod
    def from_slice(cls, rng: slice) -> ByteRange | None:
        """From aiohttp's `request.http_range`; an empty slice means no Range header."""
        if rng.start is None:
            return None
        return cls(start=rng.start, stop=rng.stop)

    def resolve(self, size: int) -> tuple[int, int]:
        """Returns (start, stop) inside a file of `size` bytes or raises RangeNotSatisfiable."""
        if self.start < 0:
            if size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size + self.start), size
        if self.start >= size or (self.stop is not None and self.stop <= self.start):
            raise RangeNotSatisfiable(size)
        stop = size if self.stop is None else min(self.stop, size)
        return self.start, stop

    def header(self) -> str:
        """The same range as a `Range` header value, for backends that take one."""
        if self.start < 0:
            return f"bytes={self.start}"
        if self.stop is None:
            return f"bytes={self.start}-"
        return f"bytes={self.start}-{self.stop - 1}"
