"""One SSH connection with its SFTP channel (asyncssh), and asyncssh's failures in the store
vocabulary. Imported only when an `sftp://` destination starts: asyncssh is not loaded
otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import stat as stat_mode
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import asyncssh

from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    StorageFull,
    StoreError,
    missing_file,
)
from gateway.stores.tree.session import Node, Session, Writer

T = TypeVar("T")
FAILURES = (asyncssh.Error, OSError, asyncio.TimeoutError, EOFError)
_MISSING = (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath)
_FULL = (asyncssh.SFTPNoSpaceOnFilesystem, asyncssh.SFTPQuotaExceeded)
# asyncssh prefers chacha20-poly1305, which it runs as two passes through `cryptography`; AES-GCM
# is one pass on the CPU's AES instructions: 2.5x the upload rate here (docs/backends.md).
# Every one of these is in OpenSSH's default list; the server picks from the intersection.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


def _node(name: str, attrs: Any) -> Node:
    is_dir = (
        stat_mode.S_ISDIR(attrs.permissions)
        if attrs.permissions is not None
        else attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY
    )
    return Node(name, is_dir, attrs.size or 0, float(attrs.mtime or 0))


class SftpWriter(Writer):
    def __init__(self, session: SftpSession, file: Any) -> None:
        self._session = session
        self._file = file
        self._offset = 0

    async def write(self, data: bytes) -> None:
        await self._session.timed(self._file.write(data, self._offset))
        self._offset += len(data)

    async def finish(self) -> None:
        await self._session.timed(self._file.close())

    async def abandon(self) -> None:
        try:
            await self._session.timed(self._file.close())
        except Exception:  # the connection went with the client's upload: not reused
            self._session.usable = False


class SftpSession(Session):
    def __init__(self, connection: Any, sftp: Any, timeout: float) -> None:
        self._connection = connection
        self._sftp = sftp
        self._timeout = timeout

    def timed(self, call: Awaitable[T]) -> Awaitable[T]:
        """asyncssh waits on the server without a limit of its own: every request gets one."""
        return asyncio.wait_for(call, self._timeout)

    @staticmethod
    def answered(exc: BaseException) -> bool:
        return isinstance(exc, asyncssh.SFTPError) and not isinstance(
            exc, (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection)
        )

    async def stat(self, full: str) -> Node | None:
        try:
            attrs = await self.timed(self._sftp.stat(full))
        except _MISSING:
            return None
        return _node(full.rsplit("/", 1)[-1], attrs)

    async def listdir(self, full: str) -> list[Node] | None:
        try:
            names = await self.timed(self._sftp.readdir(full))
        except (*_MISSING, asyncssh.SFTPNotADirectory):
            return None
        except asyncssh.SFTPFailure:  # OpenSSH answers a file's readdir with a plain failure
            node = await self.stat(full)
            if node is None or not node.is_dir:
                return None
            raise
        return [_node(n.filename, n.attrs) for n in names if n.filename not in (".", "..")]

    async def read(
        self, full: str, span: tuple[int, int], to_end: bool, chunk: int
    ) -> AsyncIterator[bytes]:
        """The next piece is requested while the caller sends this one (two in memory)."""
        start, stop = span
        file = await self.timed(self._sftp.open(full, "rb"))
        ahead: asyncio.Future[bytes] | None = None
        try:
            offset = start
            while offset < stop:
                data = await (ahead or self.timed(file.read(min(chunk, stop - offset), offset)))
                ahead = None
                if not data:
                    raise DestinationUnavailable("The file became shorter during the download")
                offset += len(data)
                if offset < stop:
                    piece = min(chunk, stop - offset)
                    ahead = asyncio.ensure_future(self.timed(file.read(piece, offset)))
                yield data
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            await asyncio.shield(self._close_quietly(file))

    async def _close_quietly(self, file: Any) -> None:
        try:
            await self.timed(file.close())
        except Exception:
            self.usable = False

    async def open_write(self, full: str) -> Writer:
        return SftpWriter(self, await self.timed(self._sftp.open(full, "wb")))

    async def rename(self, source: str, target: str) -> None:
        # SFTP v3 RENAME refuses an existing target; OpenSSH's extension replaces it (rename(2))
        await self.timed(self._sftp.posix_rename(source, target))

    async def remove(self, full: str) -> None:
        with contextlib.suppress(_MISSING):
            await self.timed(self._sftp.remove(full))

    async def rmdir(self, full: str) -> None:
        with contextlib.suppress(_MISSING):
            await self.timed(self._sftp.rmdir(full))

    async def mkdir(self, full: str) -> None:
        await self.timed(self._sftp.mkdir(full))

    async def close(self) -> None:
        self.usable = False
        try:
            self._sftp.exit()
            self._connection.close()
            await asyncio.wait_for(self._connection.wait_closed(), 5)
        except Exception:  # closing is best effort: the server may be gone already
            pass


def translate(exc: BaseException, uri: str, name: str, path: str) -> StoreError:
    """One store error for one asyncssh failure; messages name the destination and the kind of
    failure, never a credential (asyncssh's reasons do not carry them either)."""
    where = {"destination": name, "code": type(exc).__name__}
    if isinstance(exc, _MISSING):
        return missing_file(path, **where)
    if isinstance(exc, asyncssh.PermissionDenied):
        return CredentialsRefused(
            f"Destination {uri} refused the gateway's login (check username, password or "
            "private_key_file)",
            **where,
        )
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return CredentialsRefused(
            f"Destination {uri}: the server's host key is not in known_hosts_file "
            "(or ~/.ssh/known_hosts)",
            **where,
        )
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return CredentialsRefused(f"Destination {uri} refused the request on '{path}'", **where)
    if isinstance(exc, _FULL):
        return StorageFull(f"Destination {uri} is full", **where)
    if isinstance(exc, (asyncssh.SFTPNotADirectory, asyncssh.SFTPFileIsADirectory)):
        return InvalidRequest(f"The server refused '{path}': {exc.reason}", **where)
    if isinstance(exc, asyncssh.SFTPError) and SftpSession.answered(exc):
        return DestinationUnavailable(
            f"Destination {uri} refused the request: {exc.reason}", **where
        )
    return DestinationUnavailable(
        f"Destination {uri} is unreachable: {type(exc).__name__}", **where
    )


async def connect(
    host: str, port: int, arguments: dict[str, Any], connect_timeout: float, timeout: float
) -> SftpSession:
    """Opens the connection and its SFTP channel, within `connect_timeout` in all."""

    async def opened() -> SftpSession:
        connection = await asyncssh.connect(host, port, encryption_algs=CIPHERS, **arguments)
        try:
            sftp = await connection.start_sftp_client()
        except BaseException:
            connection.close()
            raise
        return SftpSession(connection, sftp, timeout)

    return await asyncio.wait_for(opened(), connect_timeout)
