"""The async store interface: a handful of primitives every destination implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from gateway.errors import IncompleteBody, MultipartUnsupported
from gateway.ranges import ByteRange


class InvalidDestination(ValueError):
    """A destination URI or option that cannot work; reported at start-up."""


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


PartList = list[tuple[int, str]]  # (part number, ETag) in order


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload neither completed nor aborted, as the cleanup pass sees it."""

    path: str
    upload_id: str
    started: datetime


class Download(abc.ABC):
    """An open read of bytes [start, stop) of a file; close it whether or not it was read."""

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
    """One destination. Paths are already normalised (`a/b/c`) and relative to its root."""

    schemes: ClassVar[tuple[str, ...]]
    multipart_uploads: ClassVar[bool] = False  # implements the upload primitives below
    multipart_downloads: ClassVar[bool] = True  # every store serves byte ranges through `open`

    def __init__(self, uri: str) -> None:
        self.uri = uri

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

    @abc.abstractmethod
    async def delete(self, path: str) -> None:
        """Removes a file or a whole directory; a missing path is not an error."""

    async def check(self) -> None:
        """Raises DestinationUnavailable if the destination cannot be reached."""
        await self.list("")

    # Multipart uploads driven by the client: parts arrive in any order, possibly at different
    # replicas, and nothing is visible at `path` until `complete_upload`.

    async def create_upload(self, path: str) -> str:
        """Starts an upload to `path` and returns its id."""
        raise MultipartUnsupported("upload")

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        """Stores exactly `size` bytes as part `part_number` (replacing it); returns its ETag."""
        raise MultipartUnsupported("upload")

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        """(number, ETag) of the parts stored so far; NotFound for an unknown upload.

        A part sent again may be listed beside the one it replaces (SeaweedFS does this)."""
        raise MultipartUnsupported("upload")

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        """Makes `path` appear atomically from `parts` ((number, ETag) in order)."""
        raise MultipartUnsupported("upload")

    async def abort_upload(self, path: str, upload_id: str) -> None:
        """Removes the upload and every stored part. NotFound for an unknown upload."""
        raise MultipartUnsupported("upload")

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        """Uploads started before `older_than`, for the cleanup pass."""
        return []

    async def presign_part(
        self, path: str, upload_id: str, part_number: int, expires_in: int
    ) -> str | None:
        """A URL on the storage itself (`multipart.direct`); None where there is none."""
        return None

    async def presign_download(self, path: str, expires_in: int) -> str | None:
        """A ranged-GET URL on the storage itself (`multipart.direct`); None where there is none."""
        return None


async def read_pieces(body: ByteSource, size: int) -> list[bytes]:
    """Reads until `size` bytes or the end of the body, keeping the pieces as they came."""
    pieces: list[bytes] = []
    remaining = size
    while remaining > 0:
        piece = await body.read(remaining)
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
