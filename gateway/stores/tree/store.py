"""A destination on a remote file tree (SFTP, FTP): the same logic over either protocol's
`Session`, so both stores stage, commit, list and delete alike.

An upload streams to a hidden temp file at the base (`.gateway-upload.<32 hex>`), then is
renamed onto its name, so a reader sees the old file or the whole new one (SFTP
`posix-rename@openssh.com`, FTP RNFR/RNTO: both rename(2) on the server). A failure or a
client that disconnects removes the temp file; one left by a killed gateway goes in the
cleanup pass (`StaleTemporaries`). Directories exist while they hold something, as on S3: a
delete removes the directories it empties, up to the base.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import posixpath
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeVar

from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.blocking import mtime_etag
from gateway.stores.body_reads import read_block
from gateway.stores.capabilities import RangedDownloads, StaleTemporaries
from gateway.stores.digests import HashingBody, hashing
from gateway.stores.errors import DestinationUnavailable, InvalidRequest, StoreError, missing_file
from gateway.stores.ranges import ByteRange
from gateway.stores.sidecars import KnownDigests
from gateway.stores.staged_names import TEMP_NAME, TEMP_PREFIX, full_path, hidden
from gateway.stores.tree.digests import forget_digest, keep_digest, read_digest
from gateway.stores.tree.download import TreeDownload
from gateway.stores.tree.session import Node, Pool, Session
from gateway.stores.write_once import exists_error

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.tree.options import TreeOptions

T = TypeVar("T")
log = logging.getLogger(__name__)
_MAX_NODES = 1_000_000  # nodes one tree delete visits: a bound, not a limit in use
_MAX_DEPTH = 4096  # directories one write makes: more than any path the HTTP layer accepts

Translate = Callable[[BaseException, str, str, str], StoreError]  # (failure, uri, name, path)


def _stat(node: Node, sha256: bytes | None) -> FileStat:
    return FileStat(
        size=node.size,
        etag=mtime_etag(int(node.mtime * 1e9), node.size),
        last_modified=datetime.fromtimestamp(node.mtime, tz=timezone.utc),
        sha256=sha256,
    )


class TreeStore(RangedDownloads, StaleTemporaries, ArtifactStore):
    """`pool` hands out sessions; `protocol` names the module with the library's `FAILURES`
    and their `translate` into the store vocabulary, imported on first use (so `routes` and
    `check-config` build the store without loading asyncssh or aioftp); `base` is the
    absolute root path."""

    def __init__(
        self,
        uri: str,
        *,
        pool: Pool,
        protocol: str,
        base: str,
        chunk_size: int,
        endpoint: str,
        name: str = "default",
    ) -> None:
        super().__init__(uri, name)
        self.pool = pool
        self._protocol = protocol
        self.base = base.rstrip("/") or "/"
        self.chunk_size = chunk_size
        self._endpoint = endpoint
        self._known = KnownDigests()

    @property
    def endpoint(self) -> str | None:
        return self._endpoint

    async def close(self) -> None:
        await self.pool.close()

    @property
    def _failures(self) -> tuple[type[BaseException], ...]:
        return importlib.import_module(self._protocol).FAILURES

    def _translate(self, exc: BaseException, uri: str, name: str, path: str) -> StoreError:
        translate: Translate = importlib.import_module(self._protocol).translate
        return translate(exc, uri, name, path)

    # -- the funnel --------------------------------------------------------------------------

    async def _do(self, path: str, fn: Callable[[Session], Awaitable[T]]) -> T:
        """`fn(session)` on a leased session; the library's failures become the store's."""
        try:
            async with self.pool.lease(self.name) as session:
                return await fn(session)
        except StoreError:
            raise
        except self._failures as exc:
            raise self._translate(exc, self.uri, self.name, path) from exc

    def _full(self, path: str) -> str:
        return full_path(self.base, path, self.name)

    async def check(self) -> None:
        """The base is made if missing (MLflow's SFTP and FTP repositories make directories as
        they log); what is there must be a directory."""

        async def look(session: Session) -> Node | None:
            await self._makedirs(session, self.base)
            return await session.stat(self.base)

        node = await self._do("", look)
        if node is None or not node.is_dir:
            raise DestinationUnavailable(
                f"Destination {self.uri} is not a directory", destination=self.name, code="NotDir"
            )

    # -- reads -------------------------------------------------------------------------------

    async def _file(self, session: Session, path: str) -> Node:
        node = await session.stat(self._full(path))
        if node is None:
            raise missing_file(path, destination=self.name)
        if node.is_dir:
            raise InvalidRequest(
                f"Artifact path refers to a directory, not a file: '{path}'", destination=self.name
            )
        return node

    async def _described(self, session: Session, path: str) -> FileStat:
        node = await self._file(session, path)
        return _stat(node, await read_digest(session, self._full(path), node, self._known))

    async def stat(self, path: str) -> FileStat:
        return await self._do(path, lambda session: self._described(session, path))

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        full = self._full(path)
        session = await self._acquire(path)
        try:
            stat = await self._described(session, path)
            start, stop = byte_range.resolve(stat.size) if byte_range else (0, stat.size)
            pieces = session.read(full, (start, stop), stop == stat.size, self.chunk_size)
        except BaseException as exc:
            await self._give_back(session, exc)
            if isinstance(exc, self._failures) and not isinstance(exc, StoreError):
                raise self._translate(exc, self.uri, self.name, path) from exc
            raise

        async def done(failure: BaseException | None) -> None:
            """The protocol session decides what a read stopped early costs (FTP: its
            connection); a failure that was not the server's answer costs the connection."""
            if failure is not None:
                await self._give_back(session, failure)
            else:
                await self.pool.release(session)

        translate = lambda exc: self._translate(exc, self.uri, self.name, path)  # noqa: E731
        return TreeDownload(pieces, stat, (start, stop), self.chunk_size, done, translate)

    async def _acquire(self, path: str) -> Session:
        try:
            return await self.pool.acquire(self.name)
        except StoreError:
            raise
        except self._failures as exc:
            raise self._translate(exc, self.uri, self.name, path) from exc

    async def _give_back(self, session: Session, exc: BaseException) -> None:
        if not isinstance(exc, StoreError) and not session.answered(exc):
            session.usable = False
        await self.pool.release(session)

    async def list(self, path: str) -> list[Entry]:
        full = self._full(path)
        nodes = await self._do(path, lambda session: session.listdir(full))
        if nodes is None:
            return []
        entries = [
            Entry(node.name, node.is_dir, None if node.is_dir else node.size)
            for node in nodes
            if node.name not in ("", ".", "..") and not hidden(node.name, not path)
        ]
        return sorted(entries, key=lambda entry: entry.name)

    # -- writes ------------------------------------------------------------------------------

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        target = self._full(path)
        if path.endswith("/") or target == self.base:
            raise InvalidRequest(f"Cannot write '{path}': not a file name", destination=self.name)
        temp = posixpath.join(self.base, f"{TEMP_PREFIX}.{uuid.uuid4().hex}")
        # Client digests are checked when the body ends, before the rename; the digest is kept
        # in a sidecar (tree/digests.py: neither protocol has metadata to keep it in).
        hashed = hashing(body)
        try:
            await self._do(path, lambda session: self._upload(session, path, hashed, temp, target))
        except BaseException:
            await asyncio.shield(self._abandon(temp, path))
            raise

    async def _upload(
        self, session: Session, path: str, body: HashingBody, temp: str, target: str
    ) -> None:
        try:
            writer = await session.open_write(temp)
        except self._failures:
            if await session.stat(self.base) is not None:
                raise
            await self._makedirs(session, self.base)  # a base deleted meanwhile, or never checked
            writer = await session.open_write(temp)
        # One block goes to the server while the next arrives from the client: two blocks in
        # memory, and neither side waits for the other's round trips.
        sending: asyncio.Future[None] | None = None
        try:
            while block := await read_block(body, self.chunk_size):
                if sending is not None:
                    await sending
                sending = asyncio.ensure_future(writer.write(block))
            if sending is not None:
                await sending
        except BaseException:
            if sending is not None and not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
            await asyncio.shield(writer.abandon())
            raise
        await writer.finish()
        existing = await session.stat(target)
        if existing is not None and existing.is_dir:
            raise InvalidRequest(
                f"Cannot write '{path}': a directory exists there", destination=self.name
            )
        if existing is not None and self.write_once.covers(path):
            raise exists_error(path, self.name)  # no conditional rename: a short window
        await self._makedirs(session, posixpath.dirname(target), path)
        await forget_digest(session, target, self._known)
        await session.rename(temp, target)
        if body.sha256 is not None:
            try:
                await keep_digest(session, target, body.sha256, self._known)
            except self._failures as exc:  # the file is stored whole: it stays, without one
                log.warning("could not keep the digest of %s in its sidecar: %s", path, exc)
                session.usable = session.usable and session.answered(exc)

    async def _makedirs(self, session: Session, full: str, path: str = "") -> None:
        """`full` and its missing parents. Uploads into one new directory race to make it: a
        directory that fails to appear but exists afterwards was made by another."""
        missing = []
        current = full
        while current not in ("", "/") and len(missing) < _MAX_DEPTH:
            node = await session.stat(current)
            if node is not None:
                if not node.is_dir:
                    raise InvalidRequest(
                        f"Cannot write '{path}': a parent directory is a file",
                        destination=self.name,
                    )
                break
            missing.append(current)
            current = posixpath.dirname(current)
        for directory in reversed(missing):
            try:
                await session.mkdir(directory)
            except self._failures:
                node = await session.stat(directory)
                if node is None or not node.is_dir:
                    raise

    async def _abandon(self, temp: str, path: str) -> None:
        """On a session of its own, once the failed one is back in the pool. Best effort: the
        failure the client hears is the first one; the cleanup pass removes a temp file this
        cannot (the server gone meanwhile)."""
        with contextlib.suppress(StoreError, *self._failures):
            await self._do(path, lambda session: _remove_quietly(session, temp))
        with contextlib.suppress(StoreError, *self._failures):
            await self._do(path, lambda session: self._prune(session, path))

    # -- deleting ----------------------------------------------------------------------------

    async def delete(self, path: str) -> None:
        full = self._full(path)

        async def remove(session: Session) -> None:
            node = await session.stat(full)
            if node is None:
                return
            if node.is_dir:
                self._known.drop(full, tree=True)
                await self._remove_tree(session, full)
            else:
                await forget_digest(session, full, self._known)
                await session.remove(full)
            await self._prune(session, path)

        await self._do(path, remove)

    async def _remove_tree(self, session: Session, full: str) -> None:
        """Depth first: files, then each directory once it is empty; the base itself stays."""
        pending, emptied, seen = [full], [], 0
        while pending and seen < _MAX_NODES:
            current = pending.pop()
            emptied.append(current)
            for node in await session.listdir(current) or []:
                seen += 1
                child = posixpath.join(current, node.name)
                if node.is_dir:
                    pending.append(child)
                else:
                    await session.remove(child)
        for directory in reversed(emptied):
            if directory != self.base:
                await session.rmdir(directory)

    async def _prune(self, session: Session, path: str) -> None:
        """Parents emptied by a delete go, up to the base (as LocalStore prunes)."""
        parent = posixpath.dirname(path)
        while parent:
            full = self._full(parent)
            if await session.listdir(full):
                return
            with contextlib.suppress(*self._failures):
                await session.rmdir(full)
            parent = posixpath.dirname(parent)

    # -- stale temp files --------------------------------------------------------------------

    async def remove_stale(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()

        async def sweep(session: Session) -> int:
            removed = 0
            for node in await session.listdir(self.base) or []:
                if TEMP_NAME.match(node.name) and node.mtime < cutoff:
                    await _remove_quietly(session, posixpath.join(self.base, node.name))
                    removed += 1
            return removed

        return await self._do("", sweep)


async def _remove_quietly(session: Session, full: str) -> None:
    if await session.stat(full) is not None:
        await session.remove(full)


def tree_store(
    options: TreeOptions,
    settings: Settings,
    protocol: str,
    connect: Callable[[], Awaitable[Session]],
    address: tuple[str, int, str],
) -> TreeStore:
    """The store of an SFTP or FTP destination: `address` is (host, port, base directory)."""
    host, port, base = address
    return TreeStore(
        options.uri,
        pool=Pool(connect, options.max_connections, options.timeout, options.uri),
        protocol=protocol,
        base=base,
        chunk_size=settings.chunk_size,
        endpoint=f"{host}:{port}",
    )
