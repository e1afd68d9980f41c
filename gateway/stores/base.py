"""The async store interface: a handful of primitives every destination implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.stores.ranges import ByteRange
from gateway.stores.write_once import WriteOnce


class ByteSource(Protocol):
    """What an upload body offers (aiohttp's StreamReader fits): up to n bytes, b'' at the end."""

    async def read(self, n: int = -1) -> bytes: ...


@dataclass(frozen=True)
class FileStat:
    size: int
    etag: str  # quoted, as sent in the ETag header
    last_modified: datetime
    sha256: bytes | None = None  # the whole file's digest, where the store keeps one


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
        # Paths that are never overwritten or deleted (`stores.write_once`); set at start-up.
        self.write_once: WriteOnce = WriteOnce()

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
