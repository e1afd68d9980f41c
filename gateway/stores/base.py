"""The async store interface: a handful of primitives every destination implements."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.stores.errors import DestinationUnavailable, IncompleteBody, StoreError
from gateway.stores.ranges import ByteRange

PROBE_TIMEOUT = 10.0  # one readiness probe, for /ready, check-config and start-up


class ByteSource(Protocol):
    """What an upload body offers (aiohttp's StreamReader fits): up to n bytes, b'' at the end."""

    async def read(self, n: int = -1) -> bytes: ...


@dataclass(frozen=True)
class FileStat:
    size: int
    etag: str  # quoted, as sent in the ETag header
    last_modified: datetime


@dataclass(frozen=True)
class Entry:
    """One listing row, named relative to the listed directory."""

    name: str
    is_dir: bool
    size: int | None = None


class Download(abc.ABC):
    """An open read of bytes [start, stop) of a file; close it whether or not it was read."""

    chunk_size = 1024 * 1024  # the most one item of `chunks()` holds: what the budget reserves

    def __init__(self, stat: FileStat, start: int, stop: int) -> None:
        self.stat = stat
        self.start = start
        self.stop = stop

    @abc.abstractmethod
    def chunks(self) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Download:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ArtifactStore(abc.ABC):
    """One destination. Paths are already normalised (`a/b/c`) and relative to its root.

    Stores raise only the errors of `gateway.stores.errors`; capabilities beyond these
    primitives are the interfaces in `gateway.stores.capabilities`.
    """

    def __init__(self, uri: str, name: str = "default") -> None:
        self.uri = uri
        self.name = name  # the configured destination name, for errors and logs
        # Clients move the bytes on presigned storage URLs only (`artifacts_presigned_only`).
        self.presigned_only = False

    @property
    def endpoint(self) -> str | None:
        """Where the backend is reached (host, endpoint URL), as the `routes` table shows it."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Opens clients and pools; called once before the first request."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases what `start` opened."""

    @abc.abstractmethod
    async def stat(self, path: str) -> FileStat:
        """Metadata of a file; NotFound if there is no file at `path`."""

    @abc.abstractmethod
    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        """Starts reading a file; RangeNotSatisfiable if the range lies outside it."""

    @abc.abstractmethod
    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        """Stores the whole body at `path` atomically: on any failure nothing is left behind.

        `size_hint` is the declared length, if any; stores may use it to choose part sizes.
        """

    @abc.abstractmethod
    async def list(self, path: str) -> list[Entry]:
        """Direct children of directory `path`; [] for a file or a missing path."""

    async def list_batches(self, path: str) -> AsyncIterator[list[Entry]]:
        """`list` in sorted batches, for a caller that can send each batch on (the list route).

        Stores that page their listing override this to yield as pages arrive, so a huge
        directory is never held whole; the default yields `list` in one batch.
        """
        yield await self.list(path)

    @abc.abstractmethod
    async def delete(self, path: str) -> None:
        """Removes a file or a whole directory; a missing path is not an error."""

    async def check(self) -> None:
        """Raises DestinationUnavailable (or CredentialsRefused) unless the destination answers."""
        await self.list("")


async def probe(store: ArtifactStore) -> StoreError | None:
    """The readiness probe: None when the store answers within PROBE_TIMEOUT, else why not."""
    try:
        await asyncio.wait_for(store.check(), PROBE_TIMEOUT)
    except StoreError as exc:
        return exc
    except asyncio.TimeoutError:
        return DestinationUnavailable(
            f"Destination {store.uri}: no answer within {PROBE_TIMEOUT:.0f} s",
            destination=store.name,
            code="Timeout",
        )
    return None


# The most asked of a stream in one read. aiohttp raises a StreamReader's buffer limits to
# twice the largest read ever asked of it (3.14 `set_read_chunk_size`): reading a part of
# 8 MiB in one call let every upload connection buffer 16 MiB beyond the budget. At aiohttp's
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
