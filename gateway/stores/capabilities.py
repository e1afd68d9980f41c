"""What a store can do beyond the base primitives, as interfaces checked with `isinstance`.

A store that implements `MultipartUploads` takes MLflow's proxied multipart uploads; one that
implements `RangedDownloads` serves byte ranges cheaply enough to advertise parallel ranged
downloads; `StoragePresigning` hands out URLs on the storage itself; `StaleTemporaries` has
crash leftovers (temp files, staging objects) for the cleanup pass to remove;
`SocketDownloads` can hand a download over as a plain TCP socket (a `SocketDownload`), for the
kernel to splice.
"""

from __future__ import annotations

import abc
import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from gateway.stores.base import ByteSource, Download, FileStat
from gateway.stores.body_reads import READ_PIECE
from gateway.stores.ranges import ByteRange

MAX_PARTS = 10_000  # MLflow's and S3's limit on parts per upload
PartList = list[tuple[int, str]]  # (part number, ETag) in order


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload neither completed nor aborted, as the cleanup pass sees it."""

    path: str
    upload_id: str
    started: datetime


class MultipartUploads(abc.ABC):
    """Uploads driven by the client: parts arrive in any order, possibly at different replicas,
    and nothing is visible at `path` until `complete_upload`."""

    # A store whose presigned part PUT answers without an ETag (Azure Put Block) holds one
    # part per number: `complete` may then take a part the client names without an ETag.
    parts_without_etags = False

    @abc.abstractmethod
    async def create_upload(self, path: str) -> str:
        """Starts an upload to `path` and returns its id."""

    @abc.abstractmethod
    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        """Stores exactly `size` bytes as part `part_number` (replacing it); returns its ETag."""

    @abc.abstractmethod
    async def list_parts(self, path: str, upload_id: str) -> PartList:
        """(number, ETag) of the parts stored so far; UnknownUpload for an unknown upload.

        A part sent again may be listed beside the one it replaces (SeaweedFS does this)."""

    @abc.abstractmethod
    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        """Makes `path` appear atomically from `parts` ((number, ETag) in order)."""

    @abc.abstractmethod
    async def abort_upload(self, path: str, upload_id: str) -> None:
        """Removes the upload and every stored part. UnknownUpload for an unknown upload."""

    @abc.abstractmethod
    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        """Uploads started before `older_than`, for the cleanup pass."""


class StaleTemporaries(abc.ABC):
    """A store that leaves its own temporaries behind when the process dies mid-write (a local
    disk: temp files, half-made directories; pyarrow stores: staging objects, since their
    streams cannot be abandoned without committing); the cleanup pass asks it to remove them.

    Not part of `MultipartUploads`: `/server-info` advertises those by that interface."""

    @abc.abstractmethod
    async def remove_stale(self, older_than: datetime) -> int:
        """Removes temporaries last touched before `older_than`; returns how many went."""


class RangedDownloads(abc.ABC):  # noqa: B024 - a declaration: `open` honours byte ranges cheaply
    """Parallel ranged downloads are worth advertising: a range costs what it reads."""


class StoragePresigning(abc.ABC):
    """URLs on the storage itself, so clients that reach it move bytes without the gateway."""

    @abc.abstractmethod
    async def presign_part(
        self, path: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        """A PUT URL for one part of an upload started with `create_upload`."""

    @abc.abstractmethod
    async def presign_download(self, path: str, expires_in: int) -> str:
        """A ranged-GET URL of one file."""

    @abc.abstractmethod
    async def presign_upload(self, path: str, expires_in: int) -> str:
        """A single-request PUT URL of one file (MLflow's `presigned-upload-url`)."""


class SocketDownloads(abc.ABC):
    """Downloads whose body can be read straight off a plain TCP socket, so the HTTP layer can
    splice it to the client inside the kernel instead of copying every byte through Python."""

    @abc.abstractmethod
    async def open_socket(self, path: str, byte_range: ByteRange | None) -> SocketDownload | None:
        """Like `open`, or None when this read cannot take that path (an error status among
        them): the caller then calls `open`, which also reports the error."""


class SocketDownload(Download):
    """Bytes [start, stop): `buffered` came with the headers, `remaining` are still on `sock`."""

    chunk_size = READ_PIECE

    def __init__(
        self,
        sock: socket.socket,
        buffered: bytes,
        stat: FileStat,
        span: tuple[int, int],
        read_timeout: float,
    ) -> None:
        start, stop = span
        super().__init__(stat, start, stop)
        self.sock = sock
        self.buffered = buffered
        self.remaining = stop - start - len(buffered)
        self.read_timeout = read_timeout

    def fileno(self) -> int:
        return self.sock.fileno()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The normal, copying path, for a client connection that cannot take a splice."""
        loop = asyncio.get_running_loop()
        if self.buffered:
            yield self.buffered
        while self.remaining > 0:
            piece = await asyncio.wait_for(
                loop.sock_recv(self.sock, min(self.remaining, self.chunk_size)), self.read_timeout
            )
            if not piece:
                raise ConnectionError(f"backend closed with {self.remaining} bytes unsent")
            self.remaining -= len(piece)
            yield piece

    async def close(self) -> None:
        self.sock.close()
