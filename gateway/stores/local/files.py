"""Local filesystem (and NFS) files, one request each: temp file in the target directory, then
rename. `LocalStore` (store.py) adds client-driven multipart uploads on top.

Every filesystem call runs in a thread through `_call` (path checks too: `realpath` can block
on NFS), the one funnel that turns `OSError` into the store vocabulary: a full disk or a refused
permission is the destination's failure, answered like an S3 refusal, never a 500. Made in
place: resolving the root, once, when the store is built; closing a file that was only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import shutil
import stat as stat_mode
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, BinaryIO, TypeVar

from gateway.stores import budget
from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.blocking import in_thread, mtime_etag
from gateway.stores.body_reads import READ_PIECE
from gateway.stores.capabilities import RangedDownloads
from gateway.stores.digests import hashing
from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    StorageFull,
    StoreError,
    missing_file,
)
from gateway.stores.local.kept_digests import KeptDigests
from gateway.stores.local.sweep import TEMP_NAME
from gateway.stores.options import InvalidDestination
from gateway.stores.ranges import ByteRange
from gateway.stores.sidecars import SIDECAR
from gateway.stores.write_once import exists_error

T = TypeVar("T")
log = logging.getLogger(__name__)
STAGING = ".gateway-uploads"  # client-driven multipart uploads (`LocalStore`, store.py)
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}

_WINDOWS_DRIVE = re.compile(r"^/?[A-Za-z]:([\\/]|$)")


def local_root(uri: str, *, windows: bool = os.name == "nt") -> str:
    """A plain path, relative path, `file:` URI or Windows form (`E:\\x`, `file:///E:/x`)."""
    path = uri
    if uri.lower().startswith("file:"):
        parsed = urllib.parse.urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidDestination(f"file URI {uri!r} names a remote host {parsed.netloc!r}")
        path = urllib.parse.unquote(parsed.path)
        if _WINDOWS_DRIVE.match(path):
            path = path.lstrip("/")
    if _WINDOWS_DRIVE.match(path):
        if not windows:
            raise InvalidDestination(f"{uri!r} is a Windows path and this host is not Windows")
        return path.replace("/", "\\")
    if not path:
        raise InvalidDestination(f"{uri!r} names no directory")
    return os.path.abspath(path)


def discard(temp: str) -> None:
    """Removes a temp file that may already be gone; any other failure is logged, not raised:
    the cleanup pass removes what stays (stores/local/sweep.py)."""
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temp file %s: %s", temp, exc)


def fsync_dir(directory: str) -> None:
    """A rename or mkdir is durable only once its directory is: fsync it (not on Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stat_of(st: os.stat_result, sha256: bytes | None = None) -> FileStat:
    return FileStat(
        size=st.st_size,
        etag=mtime_etag(st.st_mtime_ns, st.st_size),
        last_modified=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc),
        sha256=sha256,
    )


Call = Callable[..., Awaitable[Any]]


class LocalDownload(Download):
    def __init__(
        self, file: BinaryIO, stat: FileStat, start: int, stop: int, chunk: int, call: Call
    ) -> None:
        super().__init__(stat, start, stop)
        self._file = file
        self.chunk_size = chunk
        self._call = call

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.stop - self.start
        await self._call(self._file.seek, self.start)
        while remaining > 0:
            data = await self._call(self._file.read, min(self.chunk_size, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data

    async def close(self) -> None:
        self._file.close()


class LocalFiles(RangedDownloads, ArtifactStore):
    """Single-request files on a local root; `LocalStore` adds client-driven multipart."""

    def __init__(self, uri: str, chunk_size: int, name: str = "default") -> None:
        super().__init__(uri, name)
        self.root = os.path.realpath(local_root(uri))
        self.chunk_size = chunk_size
        self.digests = KeptDigests(self.root)  # xattrs, or sidecars where the root has none

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs `fn` in a thread; an OSError becomes the destination's failure, cause kept."""
        return await in_thread(self._translated, (OSError,), fn, *args)

    @contextlib.asynccontextmanager
    async def closing(self, file: BinaryIO) -> AsyncIterator[BinaryIO]:
        """Closes through the funnel: closing flushes, and a full disk can fail right there
        (a plain `with` would let that OSError replace the translated one as a 500)."""
        try:
            yield file
        finally:
            await self._call(file.close)

    def _translated(self, exc: OSError) -> StoreError:
        code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        reason = exc.strerror or type(exc).__name__
        where = {"destination": self.name, "code": code}
        if exc.errno == errno.ENAMETOOLONG:  # the client's path, not the destination, is at fault
            return InvalidRequest(f"Invalid artifact path: {reason}", **where)
        if exc.errno in _FULL:
            return StorageFull(f"Destination {self.uri} is full: {reason}", **where)
        if exc.errno in _REFUSED:
            return CredentialsRefused(
                f"Destination {self.uri} refused the request: {reason}", **where
            )
        return DestinationUnavailable(f"Destination {self.uri} failed: {reason}", **where)

    def _invalid(self, message: str) -> InvalidRequest:
        return InvalidRequest(message, destination=self.name)

    async def start(self) -> None:
        await self._call(os.makedirs, self.root, 0o777, True)

    async def check(self) -> None:
        await self._call(self._check_root)

    def _check_root(self) -> None:
        if not os.path.isdir(self.root):
            raise DestinationUnavailable(
                f"Destination {self.uri} is not a directory", destination=self.name, code="ENOTDIR"
            )
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise CredentialsRefused(
                f"Destination {self.uri} refused the request: no read and write access",
                destination=self.name,
                code="EACCES",
            )

    def local_path(self, path: str) -> str:
        """The filesystem path; symlinks may not lead outside the root, nor paths into staging
        or to another upload's temp file. Blocks (`realpath` reads every link on the way, over
        the network on NFS): call it in the thread, from the functions `_call` runs."""
        segments = path.split("/") if path else []
        if segments[:1] == [STAGING]:
            raise self._invalid(f"Invalid artifact path {path!r}: {STAGING} is reserved")
        if any(TEMP_NAME.match(segment) or SIDECAR.match(segment) for segment in segments):
            raise self._invalid(
                f"Invalid artifact path {path!r}: names of the gateway's own files are reserved"
            )
        full = os.path.join(self.root, *segments)
        if not self._inside(full):
            raise self._invalid(f"Invalid artifact path {path!r}: resolves outside the root")
        return full

    def _inside(self, full: str) -> bool:
        real = os.path.realpath(full)
        return real == self.root or real.startswith(self.root + os.sep)

    async def stat(self, path: str) -> FileStat:
        st, full = await self._call(self._path_stat, path)
        return _stat_of(st, await self._call(self.digests.read, full, full, st))

    def _path_stat(self, path: str) -> tuple[os.stat_result, str]:
        full = self.local_path(path)
        return self._file_stat(full, path), full

    def _file_stat(self, full: str, path: str) -> os.stat_result:
        try:
            st = os.stat(full)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise missing_file(path, destination=self.name) from exc
        if stat_mode.S_ISDIR(st.st_mode):
            raise self._invalid(f"Artifact path refers to a directory, not a file: '{path}'")
        return st

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        file, st, full = await self._call(self._open_file, path)
        try:
            stat = _stat_of(st, await self._call(self.digests.read, file.fileno(), full, st))
            start, stop = byte_range.resolve(stat.size) if byte_range else (0, stat.size)
        except BaseException:
            file.close()
            raise
        return LocalDownload(file, stat, start, stop, self.chunk_size, self._call)

    def _open_file(self, path: str) -> tuple[BinaryIO, os.stat_result, str]:
        """The open file and its own stat (the file read, even if renamed over meanwhile)."""
        full = self.local_path(path)
        self._file_stat(full, path)
        try:
            file = open(full, "rb")  # noqa: SIM115 - the download closes it
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise missing_file(path, destination=self.name) from exc
        try:
            return file, os.fstat(file.fileno()), full
        except BaseException:
            file.close()
            raise

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        full, created = await self._call(self._prepare, path)
        body = hashed = hashing(body)  # checked at its end, before the rename shows the file
        directory, name = os.path.split(full)
        temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.gateway-part")
        try:
            async with self.closing(await self._call(self._create, temp, directory, path)) as file:
                await self._copy(body, file)
                await self._call(file.flush)  # what Python still buffers, or fsync misses it
                assert hashed.sha256 is not None  # `_copy` read to the end
                await self._call(self.digests.before_commit, file.fileno(), hashed.sha256)
                await self._call(os.fsync, file.fileno())
                st = await self._call(os.fstat, file.fileno())
            await self._call(self._replace, temp, full, path)
            await self._call(self.digests.after_commit, full, st, hashed.sha256)
        except BaseException:
            await asyncio.to_thread(self._undo, temp, created)
            raise

    async def _copy(self, body: ByteSource, file: BinaryIO) -> None:
        """One piece at a time as the client sends it, reserved once in hand and returned once
        written: a slow client holds no budget while the gateway waits for its bytes."""
        shared = budget.current()
        while piece := await body.read(READ_PIECE):
            async with shared.hold(len(piece)):
                await self._call(file.write, piece)
            del piece

    def _prepare(self, path: str) -> tuple[str, list[str]]:
        """The file's path, and the parents made for it (a failed write removes them again)."""
        full = self.local_path(path)
        return full, self._make_dirs(os.path.dirname(full), path)

    def _make_dirs(self, directory: str, path: str) -> list[str]:
        """Creates missing parents and returns them, so a failed upload can remove them again."""
        missing = []
        probe = directory
        while not os.path.isdir(probe):
            if os.path.lexists(probe):
                if os.path.isdir(probe):
                    break  # a concurrent upload made it between the two looks: not a file
                raise self._invalid(f"Cannot write '{path}': a parent is a file")
            missing.append(probe)
            probe = os.path.dirname(probe)
        for created in reversed(missing):
            try:
                os.mkdir(created)
            except FileExistsError as exc:
                if not os.path.isdir(created):
                    raise self._invalid(f"Cannot write '{path}': a parent is a file") from exc
            fsync_dir(os.path.dirname(created))  # the new entry survives a power cut
        return missing

    def _create(self, temp: str, directory: str, path: str) -> BinaryIO:
        """A concurrent delete may prune the fresh directory once; make it again then."""
        try:
            return open(temp, "xb")
        except FileNotFoundError:
            self._make_dirs(directory, path)
            return open(temp, "xb")

    def _replace(self, temp: str, full: str, path: str) -> None:
        if os.path.isdir(full):
            raise self._invalid(f"Cannot write '{path}': a directory exists there")
        if self.write_once.covers(path):
            try:  # link(2) fails with EEXIST if anything is there: one writer wins, race-free
                os.link(temp, full)
            except FileExistsError as exc:
                raise exists_error(path, self.name) from exc
            os.unlink(temp)
        else:
            os.replace(temp, full)
        fsync_dir(os.path.dirname(full))

    @staticmethod
    def _undo(temp: str, created: list[str]) -> None:
        """Best effort after a failed write; the failure itself is what the client hears, and
        what stays behind is logged and left to the cleanup pass."""
        discard(temp)
        for directory in created:
            try:
                os.rmdir(directory)
            except OSError:
                break

    async def list(self, path: str) -> list[Entry]:
        entries = await self._call(self._list, path)
        return [entry for entry in entries if path or entry.name != STAGING]

    def _list(self, path: str) -> list[Entry]:
        """Temp files, and symlinks leading out of the root (unreadable here), are left out."""
        try:
            with os.scandir(self.local_path(path)) as it:
                items = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return []
        entries = []
        for item in items:
            if TEMP_NAME.match(item.name) or SIDECAR.match(item.name):
                continue
            if item.is_symlink() and not self._inside(item.path):
                continue
            try:
                is_dir = item.is_dir()
                size = None if is_dir else item.stat().st_size
            except FileNotFoundError:
                continue
            entries.append(Entry(item.name, is_dir, size))
        return sorted(entries, key=lambda entry: entry.name)

    async def delete(self, path: str) -> None:
        await self._call(self._delete, path)

    def _delete(self, path: str) -> None:
        full = self.local_path(path)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
                self.digests.forget(full)
        except FileNotFoundError:
            pass
        # A directory exists while it holds something, as on S3: emptied parents go too.
        parent = os.path.dirname(full)
        while parent != self.root and parent.startswith(self.root + os.sep):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
