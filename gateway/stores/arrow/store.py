"""A destination over any `pyarrow.fs.FileSystem` under a base path: GCS, Azure, HDFS, local.

Every pyarrow call runs in a thread (`asyncio.to_thread`: pyarrow drops the GIL while it waits
on I/O, tests/backends/FINDINGS.md) through `_call`, the one funnel into the store vocabulary.
pyarrow output streams commit whatever they hold on close or garbage collection, so an upload
never opens a stream on its final name: it streams to a hidden staging object at the base
(`.gateway-upload.<32 hex>`), then commits by `move` (GCS rewrite, local or HDFS rename) or,
where `move` is not implemented (Azure without a hierarchical namespace), `copy_file` and
`delete_file`. On failure the stream is closed and the staging object deleted; objects left by
a killed gateway are removed by age in the cleanup pass (`StaleTemporaries`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.stores.arrow.digests import forget_digest, keep_digest, read_digest
from gateway.stores.arrow.download import ArrowDownload, arrow_failures
from gateway.stores.arrow.errors import translate
from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.blocking import in_thread, mtime_etag
from gateway.stores.body_reads import read_block
from gateway.stores.capabilities import RangedDownloads, StaleTemporaries
from gateway.stores.digests import hashing
from gateway.stores.errors import DestinationUnavailable, InvalidRequest, StoreError, missing_file
from gateway.stores.ranges import ByteRange
from gateway.stores.sidecars import KnownDigests
from gateway.stores.staged_names import TEMP_NAME, TEMP_PREFIX, full_path, hidden
from gateway.stores.write_once import refuse_existing

if TYPE_CHECKING:
    from pyarrow import fs as pafs

T = TypeVar("T")
log = logging.getLogger(__name__)


def _fs() -> Any:
    """pyarrow.fs, imported on first use: `routes` and `check-config` build stores without
    opening them, and pay for pyarrow (~0.3 s, hundreds of MB mapped) only when one starts."""
    from pyarrow import fs

    return fs


@dataclass(frozen=True)
class Traits:
    """What differs between backends, as measured in tests/backends/FINDINGS.md."""

    flush_every: int | None = None  # Azure holds every staged block until a flush
    recursive_listing: bool = False  # GCS lists no implied sub-directories otherwise
    makes_dirs: bool = False  # local, HDFS: a move needs its parent directory
    etag_metadata: bytes | None = None  # Azure: a download checks this is unchanged at its end
    root_kind: str = "directory"  # "bucket" or "container": what check() looks for


def _stat(info: pafs.FileInfo, sha256: bytes | None) -> FileStat:
    """No backend's FileInfo has an ETag: one is made of mtime and size, as local stores do."""
    mtime = info.mtime or datetime.fromtimestamp(0, tz=timezone.utc)
    return FileStat(
        size=info.size or 0,
        etag=mtime_etag(info.mtime_ns or 0, info.size or 0),
        last_modified=mtime.astimezone(timezone.utc),
        sha256=sha256,
    )


class ArrowStore(StaleTemporaries, ArtifactStore):
    """`connect()` builds the filesystem (in a thread, on first use); `base` is the root path in
    it (`bucket/prefix`, `container/prefix`, `/dir`); `root` is what must exist (the bucket)."""

    def __init__(
        self,
        uri: str,
        *,
        connect: Callable[[], pafs.FileSystem],
        base: str,
        root: str,
        chunk_size: int,
        traits: Traits,
        endpoint: str | None = None,
        name: str = "default",
    ) -> None:
        super().__init__(uri, name)
        self.base = base.rstrip("/") or "/"
        self.root = root
        self.chunk_size = chunk_size
        self.traits = traits
        self._connect = connect
        self._endpoint = endpoint
        self._fs: pafs.FileSystem | None = None
        self._lock = asyncio.Lock()
        self._move_works = True
        self._known = KnownDigests()

    @property
    def endpoint(self) -> str | None:
        return self._endpoint

    # -- the funnel --------------------------------------------------------------------------

    async def _filesystem(self, path: str) -> pafs.FileSystem:
        if self._fs is None:
            async with self._lock:
                if self._fs is None:
                    self._fs = await self._call(path, self._connect)
        return self._fs

    async def _call(self, path: str, fn: Callable[..., T], *args: Any) -> T:
        """Runs `fn` in a thread; pyarrow's failures become the store's, the cause chained."""
        failed = lambda exc: translate(exc, self.uri, self.name, path)  # noqa: E731
        return await in_thread(failed, arrow_failures(), fn, *args)

    async def _run(self, path: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(filesystem, *args)` through the funnel."""
        fs = await self._filesystem(path)
        return await self._call(path, fn, fs, *args)

    # -- names -------------------------------------------------------------------------------

    def _full(self, path: str) -> str:
        """The path in the filesystem; the store's own names are never an artifact's."""
        return full_path(self.base, path, self.name)

    # -- probe -------------------------------------------------------------------------------

    async def check(self) -> None:
        await self._run("", self._check)

    def _check(self, fs: pafs.FileSystem) -> None:
        """A missing bucket or container looks like a missing object: look for it by name."""
        if self.traits.makes_dirs:
            fs.create_dir(self.base, recursive=True)
        if fs.get_file_info(self.root).type != _fs().FileType.Directory:
            raise DestinationUnavailable(
                f"Destination {self.uri} refused the request: no {self.traits.root_kind} "
                f"{self.root!r}",
                destination=self.name,
                code=f"No{self.traits.root_kind.capitalize()}",
            )

    # -- reads -------------------------------------------------------------------------------

    async def _file_info(self, path: str, full: str) -> pafs.FileInfo:
        info = await self._run(path, lambda fs: fs.get_file_info(full))
        if info.type == _fs().FileType.File:
            return info
        if info.type == _fs().FileType.Directory:
            raise InvalidRequest(
                f"Artifact path refers to a directory, not a file: '{path}'", destination=self.name
            )
        await self.check()  # a missing bucket is the destination's failure, not a 404
        raise missing_file(path, destination=self.name)

    async def _described(self, path: str, full: str) -> FileStat:
        info = await self._file_info(path, full)
        return _stat(info, await self._run(path, read_digest, full, info, self._known))

    async def stat(self, path: str) -> FileStat:
        return await self._described(path, self._full(path))

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        full = self._full(path)
        stat = await self._described(path, full)
        start, stop = byte_range.resolve(stat.size) if byte_range else (0, stat.size)
        source = await self._run(path, _opener, full, byte_range is not None, start)
        verify = None
        if self.traits.etag_metadata is not None:
            verify = self._verifier(path, full, _metadata(source, self.traits.etag_metadata))
        step = lambda fn, *args: self._call(path, fn, *args)  # noqa: E731
        return ArrowDownload(source, stat, start, stop, self.chunk_size, step, verify)

    def _verifier(
        self, path: str, full: str, etag: bytes | None
    ) -> Callable[[], Awaitable[None]] | None:
        """Azure reads every chunk with its own GET: an overwrite during a download splices two
        versions. At the end the ETag is compared, and a change breaks the response off."""
        if etag is None:
            return None

        async def verify() -> None:
            key = self.traits.etag_metadata
            assert key is not None
            now = await self._run(path, _current_metadata, full, key)
            if now != etag:
                raise DestinationUnavailable(
                    f"Destination {self.uri}: '{path}' was overwritten during the download",
                    destination=self.name,
                    code="ETagChanged",
                )

        return verify

    # -- writes ------------------------------------------------------------------------------

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        target = self._full(path)
        if path.endswith("/") or target == self.base:
            raise InvalidRequest(f"Cannot write '{path}': not a file name", destination=self.name)
        temp = posixpath.join(self.base, f"{TEMP_PREFIX}.{uuid.uuid4().hex}")
        stream = await self._run(path, _open_output, temp, self.traits.makes_dirs)
        staged = _Staged(stream)
        # The client's digests are checked at the body's end, before the commit; the digest is
        # kept in a sidecar (arrow/digests.py).
        body = hashing(body)
        try:
            unflushed = 0
            while block := await read_block(body, self.chunk_size):
                await staged.step(self._call, path, stream.write, block)
                unflushed += len(block)
                if self.traits.flush_every and unflushed >= self.traits.flush_every:
                    await staged.step(self._call, path, stream.flush)
                    unflushed = 0
            await staged.step(self._call, path, stream.close)
            if self.write_once.covers(path):  # no conditional move in pyarrow: a short window
                await refuse_existing(self, path)
            await self._run(path, self._commit, temp, target)
        except BaseException:
            await asyncio.shield(self._abandon(staged, temp, path))
            raise
        if body.sha256 is not None:
            try:
                await self._run(path, keep_digest, target, body.sha256, self._known)
            except StoreError as exc:  # the file is stored whole: it stays, without a digest
                log.warning("could not keep the digest of %s in its sidecar: %s", path, exc)

    def _commit(self, fs: pafs.FileSystem, temp: str, target: str) -> None:
        if fs.get_file_info(target).type == _fs().FileType.Directory:
            raise IsADirectoryError(f"a directory exists at '{target}'")
        if self.traits.makes_dirs:
            fs.create_dir(posixpath.dirname(target), recursive=True)
        forget_digest(fs, target, self._known)
        if self._move_works:
            try:
                fs.move(temp, target)
                return
            except NotImplementedError:  # Azure without a hierarchical namespace
                self._move_works = False
        fs.copy_file(temp, target)
        fs.delete_file(temp)

    async def _abandon(self, staged: _Staged, temp: str, path: str) -> None:
        """Closing commits the partial staging object; deleting it leaves nothing behind. Best
        effort: the failure the client hears is the first one, and the cleanup pass remains."""
        await staged.settle()
        with contextlib.suppress(*arrow_failures()):
            await asyncio.to_thread(staged.stream.close)
        with contextlib.suppress(StoreError):
            await self._run(path, _delete_quietly, temp)
        if self.traits.makes_dirs:
            with contextlib.suppress(StoreError):
                await self._run(path, self._prune, path)

    # -- listing and deleting ----------------------------------------------------------------

    def _children(self, fs: pafs.FileSystem, full: str) -> list[pafs.FileInfo]:
        selector = _fs().FileSelector(
            full, recursive=self.traits.recursive_listing, allow_not_found=True
        )
        try:
            return fs.get_file_info(selector)
        except NotADirectoryError:
            return []

    async def list(self, path: str) -> list[Entry]:
        full = self._full(path)
        infos = await self._run(path, self._children, full)
        start = len(full.rstrip("/")) + 1
        entries: dict[str, Entry] = {}
        for info in infos:
            relative = info.path[start:]
            name, _, rest = relative.partition("/")
            if not name or hidden(name, not path):
                continue
            if rest or info.type == _fs().FileType.Directory:
                entries[name] = Entry(name, True)
            else:
                entries.setdefault(name, Entry(name, False, info.size))
        if not entries and not path:
            await self.check()  # an empty root may be a missing bucket
        return sorted(entries.values(), key=lambda entry: entry.name)

    async def delete(self, path: str) -> None:
        full = self._full(path)
        await self._run(path, self._delete, full, path)

    def _delete(self, fs: pafs.FileSystem, full: str, path: str) -> None:
        kind = fs.get_file_info(full).type
        if kind == _fs().FileType.File:
            forget_digest(fs, full, self._known)
            fs.delete_file(full)
        else:  # on GCS an implied directory may look missing: its contents go all the same
            self._known.drop(full, tree=True)
            fs.delete_dir_contents(full, missing_dir_ok=True)
            self._remove_marker(fs, full)
        self._prune(fs, path)

    def _prune(self, fs: pafs.FileSystem, path: str) -> None:
        """A directory exists while it holds something, as on S3: Azure leaves a marker and
        local disks a directory where a delete emptied one; those go, up to the base."""
        parent = posixpath.dirname(path)
        while parent:
            full = self._full(parent)
            if self._children(fs, full):
                return
            self._remove_marker(fs, full)
            parent = posixpath.dirname(parent)

    def _remove_marker(self, fs: pafs.FileSystem, full: str) -> None:
        """An emptied directory that still exists is a marker (Azure, GCS) or a local directory.
        GCS's implied directories vanish with their contents; deleting one raises."""
        if full != self.base and fs.get_file_info(full).type == _fs().FileType.Directory:
            with contextlib.suppress(FileNotFoundError):
                fs.delete_dir(full)

    # -- stale staging objects -----------------------------------------------------------------

    async def remove_stale(self, older_than: datetime) -> int:
        return await self._run("", self._remove_stale, older_than)

    def _remove_stale(self, fs: pafs.FileSystem, older_than: datetime) -> int:
        selector = _fs().FileSelector(self.base, recursive=False, allow_not_found=True)
        removed = 0
        for info in fs.get_file_info(selector):
            if TEMP_NAME.match(info.base_name) and info.mtime and info.mtime < older_than:
                _delete_quietly(fs, info.path)
                removed += 1
        return removed


class RangedArrowStore(RangedDownloads, ArrowStore):
    """Ranges cost what they read (Azure, HDFS, local); not GCS, whose ranged reads hold the
    GIL (tests/backends/FINDINGS.md, "The GIL")."""


class _Staged:
    """The open staging stream and its one call in flight, so a cancelled upload waits for that
    call to return before the stream is closed from another thread."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._pending: asyncio.Future[Any] | None = None

    async def step(self, call: Callable[..., Awaitable[T]], path: str, *args: Any) -> T:
        self._pending = asyncio.ensure_future(call(path, *args))
        return await asyncio.shield(self._pending)

    async def settle(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(BaseException):
                await self._pending


def _opener(fs: pafs.FileSystem, full: str, ranged: bool, start: int) -> Any:
    """A stream for whole files (one GET on GCS, which `open_input_file` would make hold the
    GIL); a seekable file for ranges."""
    if not ranged:
        return fs.open_input_stream(full)
    source = fs.open_input_file(full)
    source.seek(start)
    return source


def _open_output(fs: pafs.FileSystem, temp: str, makes_dirs: bool) -> Any:
    if makes_dirs:
        fs.create_dir(posixpath.dirname(temp), recursive=True)
    return fs.open_output_stream(temp)


def _metadata(source: Any, key: bytes) -> bytes | None:
    return dict(source.metadata()).get(key)


def _current_metadata(fs: pafs.FileSystem, full: str, key: bytes) -> bytes | None:
    with fs.open_input_stream(full) as source:
        return _metadata(source, key)


def _delete_quietly(fs: pafs.FileSystem, full: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(full)
