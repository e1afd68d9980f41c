"""Azure Blob Storage on azure-storage-blob's `aio` client (it runs on aiohttp), so reads and
writes never leave the event loop.

Blobs are immutable until a block list is committed (Put Block, Put Block List): an upload
stages blocks under ids the gateway chooses and commits them in one request, so nothing
partial is ever visible, and a failed upload leaves only uncommitted blocks, which no listing
shows and Azure discards after a week (Azure docs, "Put Block": uncommitted blocks are
garbage-collected after 7 days). The same blocks carry MLflow's proxied multipart uploads
(`gateway.stores.azure.blocks`).

Every write keeps its SHA-256 in the blob's metadata (`sha256`, hex), set by the very request
that makes the blob visible (Put Blob, Put Block List), so bytes and digest appear together.
Write-once paths commit with `If-None-Match: *` (`MatchConditions.IfMissing`): race-free.
"""

from __future__ import annotations

import asyncio
import collections
import posixpath
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from gateway.stores.azure.errors import FAILURES, translate
from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.body_reads import read_block
from gateway.stores.digests import hashing, parse_hex
from gateway.stores.errors import DestinationUnavailable, StoreError
from gateway.stores.ranges import ByteRange
from gateway.stores.write_once import exists_error

T = TypeVar("T")
BLOCK = 4 * 1024 * 1024  # one Put Block: Azure allows up to 4000 MiB, 4 MiB keeps memory flat
STAGED_AHEAD = 4  # blocks staged at once per upload: one round trip each hides the others'
SINGLE_PUT = 4 * 1024 * 1024  # bodies up to this go in one Put Blob
# One ranged GET per READ_CHUNK, each held whole by the SDK before it is yielded: larger
# chunks mean fewer round trips per download (docs/performance.md), at this much memory each.
READ_CHUNK = 8 * 1024 * 1024
READ_AHEAD = 2  # ranged GETs in flight per download: the next one's round trip hides behind this
SHA256_META = "sha256"  # x-ms-meta-sha256: the hex digest


def block_id(upload: str, number: int) -> str:
    """Every id of one blob must have the same length (Azure docs, "Put Block"); the SDK
    base64-encodes it on the wire and decodes it in block lists."""
    return f"{upload}-{number:05d}"


class AzureDownload(Download):
    chunk_size = READ_CHUNK * READ_AHEAD  # what the budget reserves: every chunk in flight

    def __init__(self, stream: Any, stat: FileStat, start: int, stop: int) -> None:
        super().__init__(stat, start, stop)
        self._stream = stream

    async def chunks(self) -> AsyncIterator[bytes]:
        async for piece in self._stream.chunks():
            yield piece

    async def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close()


class AzureBlobStore(ArtifactStore):
    """`connect()` returns a `ContainerClient` (aio); it is called once, in `start`."""

    def __init__(
        self,
        uri: str,
        *,
        connect: Callable[[], Any],
        prefix: str,
        endpoint: str,
        name: str = "default",
    ) -> None:
        super().__init__(uri, name)
        self._connect = connect
        self.prefix = prefix
        self._endpoint = endpoint
        self._container: Any = None

    @property
    def endpoint(self) -> str | None:
        return self._endpoint

    async def start(self) -> None:
        if self._container is None:
            self._container = self._connect()

    async def close(self) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            await container.close()

    # -- the funnel --------------------------------------------------------------------------

    async def _call(self, path: str, call: Awaitable[T]) -> T:
        """Awaits one SDK call; its failures become the store's, the cause chained."""
        try:
            return await call
        except FAILURES as exc:
            raise translate(exc, self.uri, self.name, path) from exc

    def full(self, path: str) -> str:
        return posixpath.join(self.prefix, path) if self.prefix else path

    def blob(self, path: str) -> Any:
        if self._container is None:
            raise DestinationUnavailable(f"{self.uri} is not started", destination=self.name)
        return self._container.get_blob_client(self.full(path))

    # -- reads -------------------------------------------------------------------------------

    async def stat(self, path: str) -> FileStat:
        props = await self._call(path, self.blob(path).get_blob_properties())
        return FileStat(
            size=props.size,
            etag=_quoted(props.etag),
            last_modified=props.last_modified,
            sha256=parse_hex((props.metadata or {}).get(SHA256_META)),
        )

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        stat = await self.stat(path)
        start, stop = (0, stat.size) if byte_range is None else byte_range.resolve(stat.size)
        if stop == start:  # an empty file: Azure answers 416 to any range of it
            return AzureDownload(_Empty(), stat, 0, 0)
        source = _ReadAhead(self, path, stat.etag.strip('"'), start, stop)
        await source.begin()  # the first GET's failure (gone, changed) is the open's
        return AzureDownload(source, stat, start, stop)

    async def read_range(self, path: str, etag: str, offset: int, length: int) -> bytes:
        """One ranged GET of the blob as it was at `etag` (If-Match), read whole."""
        stream = await self._call(
            path,
            self.blob(path).download_blob(
                offset=offset,
                length=length,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
            ),
        )
        return await self._call(path, stream.readall())

    async def list(self, path: str) -> list[Entry]:
        entries: list[Entry] = []
        async for batch in self.list_batches(path):
            entries += batch
        return sorted(entries, key=lambda e: e.name)

    async def list_batches(self, path: str) -> AsyncIterator[list[Entry]]:
        """Azure lists in name order with a delimiter, a page at a time (List Blobs)."""
        if self._container is None:
            raise DestinationUnavailable(f"{self.uri} is not started", destination=self.name)
        where = self.full(path).rstrip("/")
        start = f"{where}/" if where else ""
        pages = self._container.walk_blobs(name_starts_with=start or None, delimiter="/").by_page()
        while True:
            try:
                page = await anext(pages)
                items = [item async for item in page]
            except StopAsyncIteration:
                return
            except FAILURES as exc:
                raise translate(exc, self.uri, self.name, path) from exc
            batch = []
            for item in items:
                name = item.name[len(start) :]
                if name.endswith("/"):
                    batch.append(Entry(name=name.rstrip("/"), is_dir=True))
                elif name:
                    batch.append(Entry(name=name, is_dir=False, size=item.size))
            if batch:  # a page holds prefixes apart from blobs: name order, as MLflow's listing
                yield sorted(batch, key=lambda e: e.name)

    # -- writes ------------------------------------------------------------------------------

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        """Small bodies in one Put Blob; larger ones as blocks staged a few at a time, then one
        Put Block List. Until that commit nothing is visible at `path`."""
        blob = self.blob(path)
        body = hashed = hashing(body)  # checked at its end, before the commit
        first = await read_block(body, SINGLE_PUT)
        if len(first) < SINGLE_PUT:
            assert hashed.sha256 is not None  # the end was read
            once = self.conditions(path)
            put = blob.upload_blob(first, overwrite=not once, **self.kept(hashed.sha256), **once)
            await self.committing(path, put)
            return
        upload = uuid.uuid4().hex
        ids: list[str] = []
        pending: set[asyncio.Task[Any]] = set()
        block = first
        try:
            while block:
                ids.append(block_id(upload, len(ids) + 1))
                call = self._call(path, blob.stage_block(ids[-1], block, length=len(block)))
                pending.add(asyncio.ensure_future(call))
                if len(pending) >= STAGED_AHEAD:
                    done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                    for task in done:
                        task.result()
                block = await read_block(body, BLOCK)
            if pending:
                await asyncio.gather(*pending)
                pending = set()
            assert hashed.sha256 is not None
            commit = blob.commit_block_list(
                ids, **self.kept(hashed.sha256), **self.conditions(path)
            )
            await self.committing(path, commit)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    def kept(sha256: bytes) -> dict[str, Any]:
        return {"metadata": {SHA256_META: sha256.hex()}}

    def conditions(self, path: str) -> dict[str, Any]:
        """A write-once path commits only where no blob is (`If-None-Match: *`)."""
        if not self.write_once.covers(path):
            return {}
        return {"match_condition": MatchConditions.IfMissing}

    async def committing(self, path: str, call: Awaitable[T]) -> T:
        """The commit; on a write-once path, a blob already there is a 409."""
        try:
            return await call
        except (ResourceExistsError, ResourceModifiedError) as exc:
            if self.write_once.covers(path):
                raise exists_error(path, self.name) from exc
            raise translate(exc, self.uri, self.name, path) from exc
        except FAILURES as exc:
            raise translate(exc, self.uri, self.name, path) from exc

    async def delete(self, path: str) -> None:
        """A file, or every blob under the directory `path`; missing is not an error."""
        names = [self.full(path)] if path else []
        if self._container is None:
            raise DestinationUnavailable(f"{self.uri} is not started", destination=self.name)
        start = f"{self.full(path).rstrip('/')}/" if self.full(path) else ""
        try:
            names += [b.name async for b in self._container.list_blobs(name_starts_with=start)]
        except FAILURES as exc:
            raise translate(exc, self.uri, self.name, path) from exc
        for group in (names[i : i + 16] for i in range(0, len(names), 16)):
            await asyncio.gather(*(self._delete_one(path, name) for name in group))

    async def _delete_one(self, path: str, name: str) -> None:
        try:
            await self._call(path, self._container.delete_blob(name))
        except StoreError as exc:
            if exc.code not in ("BlobNotFound",):
                raise

    async def check(self) -> None:
        if self._container is None:
            await self.start()
        try:
            await self._call("", self._container.get_container_properties())
        except StoreError as exc:
            raise DestinationUnavailable.of(self.uri, "container", exc, self.name) from exc


class _ReadAhead:
    """Ranged GETs of READ_CHUNK, READ_AHEAD of them in flight: each round trip to Azure
    overlaps the sending of the chunk before it (one GET at a time halved the download rate,
    docs/performance.md). Every GET carries If-Match, so a blob overwritten meanwhile fails
    the download rather than splicing two versions."""

    def __init__(self, store: AzureBlobStore, path: str, etag: str, start: int, stop: int) -> None:
        self._read = lambda offset: store.read_range(
            path, etag, offset, min(READ_CHUNK, stop - offset)
        )
        self._offsets = iter(range(start, stop, READ_CHUNK))
        self._pending: collections.deque[asyncio.Task[bytes]] = collections.deque()

    def _launch(self) -> None:
        offset = next(self._offsets, None)
        if offset is not None:
            self._pending.append(asyncio.ensure_future(self._read(offset)))

    async def begin(self) -> None:
        for _ in range(READ_AHEAD):
            self._launch()
        try:
            await asyncio.shield(self._pending[0])
        except BaseException:
            await self.close()
            raise

    async def chunks(self) -> AsyncIterator[bytes]:
        while self._pending:
            piece = await self._pending[0]
            self._pending.popleft()
            self._launch()
            yield piece

    async def close(self) -> None:
        pending, self._pending = list(self._pending), collections.deque()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class _Empty:
    async def chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def close(self) -> None:
        """Nothing in flight."""


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'
