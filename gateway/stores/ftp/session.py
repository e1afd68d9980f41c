"""One FTP control connection (aioftp), with explicit TLS when configured, and aioftp's
failures in the store vocabulary. Imported only when an `ftp://` or `ftps://` destination is
configured.

Explicit TLS (RFC 4217): `AUTH TLS` before the login, so the password travels encrypted, then
`PBSZ 0` and `PROT P`, so every data connection is encrypted too (aioftp's `upgrade_to_tls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

import aioftp

from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    StorageFull,
    StoreError,
)
from gateway.stores.tree.session import Node, Session, Writer

FAILURES = (aioftp.AIOFTPException, OSError, asyncio.TimeoutError, ssl.SSLError, EOFError)


def _codes(exc: BaseException) -> list[str]:
    return [str(code) for code in getattr(exc, "received_codes", ())]


def _mtime(value: str | None) -> float:
    """MLSx `modify` facts are UTC, YYYYMMDDHHMMSS[.sss] (RFC 3659 section 2.3)."""
    if not value:
        return 0.0
    try:
        parsed = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0
    return parsed.timestamp()


def _node(name: str, info: Any) -> Node:
    kind = str(info.get("type", "")).lower()
    return Node(
        name,
        kind in ("dir", "cdir", "pdir"),
        int(info.get("size", 0) or 0),
        _mtime(info.get("modify")),
    )


class FtpWriter(Writer):
    def __init__(self, session: FtpSession, stream: Any) -> None:
        self._session = session
        self._stream = stream

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def finish(self) -> None:
        await self._stream.finish()

    async def abandon(self) -> None:
        """The server learns of it by the data connection closing mid-file; the control
        connection's next reply is then unknown, so it is not reused."""
        self._session.usable = False
        with contextlib.suppress(Exception):
            self._stream.close()


class FtpSession(Session):
    def __init__(self, client: aioftp.Client) -> None:
        self._client = client

    @staticmethod
    def answered(exc: BaseException) -> bool:
        return isinstance(exc, aioftp.StatusCodeError)

    async def stat(self, full: str) -> Node | None:
        try:
            info = await self._client.stat(full)
        except aioftp.StatusCodeError as exc:
            if any(code.startswith("55") for code in _codes(exc)):
                return None
            raise
        return _node(PurePosixPath(full).name, info)

    async def listdir(self, full: str) -> list[Node] | None:
        node = await self.stat(full)
        if node is None or not node.is_dir:
            return None
        listed = await self._client.list(full)
        return [_node(path.name, info) for path, info in listed]

    async def read(
        self, full: str, span: tuple[int, int], to_end: bool, chunk: int
    ) -> AsyncIterator[bytes]:
        start, stop = span
        stream = await self._client.download_stream(full, offset=start)
        finished = False
        try:
            remaining = stop - start
            while remaining > 0:
                data = await stream.read(min(chunk, remaining))
                if not data:
                    raise DestinationUnavailable("The file became shorter during the download")
                remaining -= len(data)
                yield data
            if to_end:
                await stream.finish()
                finished = True
        finally:
            if not finished:  # a range short of the end, or a client gone: no clean 226 here
                self.usable = False
                stream.close()

    async def open_write(self, full: str) -> Writer:
        return FtpWriter(self, await self._client.upload_stream(full))

    async def rename(self, source: str, target: str) -> None:
        await self._client.rename(source, target)  # RNFR/RNTO: rename(2) on the server

    async def remove(self, full: str) -> None:
        await self._unless_gone(self._client.remove_file, full)

    async def rmdir(self, full: str) -> None:
        await self._unless_gone(self._client.remove_directory, full)

    async def _unless_gone(self, call: Any, full: str) -> None:
        """FTP's 550 means missing or refused: it is an error only if `full` is still there."""
        try:
            await call(full)
        except aioftp.StatusCodeError:
            if await self.stat(full) is not None:
                raise

    async def mkdir(self, full: str) -> None:
        await self._client.make_directory(full, parents=False)

    async def close(self) -> None:
        self.usable = False
        with contextlib.suppress(Exception):
            self._client.close()


def translate(exc: BaseException, uri: str, name: str, path: str) -> StoreError:
    """One store error for one aioftp failure. The server's reply text is left out (it may
    echo a command); the code says enough. aioftp never logs the PASS argument."""
    codes = _codes(exc)
    last = codes[-1] if codes else ""
    where = {"destination": name, "code": last or type(exc).__name__}
    if last == "530":
        return CredentialsRefused(
            f"Destination {uri} refused the gateway's login (check username and password)",
            **where,
        )
    if last in ("452", "552"):
        return StorageFull(f"Destination {uri} is full: {last}", **where)
    if last == "553":
        return InvalidRequest(f"The server refused the file name '{path}': {last}", **where)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CredentialsRefused(
            f"Destination {uri}: the server's TLS certificate is not trusted (see ca_file)",
            **where,
        )
    if codes:
        return DestinationUnavailable(f"Destination {uri} refused the request: {last}", **where)
    return DestinationUnavailable(
        f"Destination {uri} is unreachable: {type(exc).__name__}", **where
    )


async def connect(
    host: str,
    port: int,
    login: tuple[str, str],
    context: ssl.SSLContext | None,
    timeouts: tuple[float, float],
) -> FtpSession:
    """Connects, upgrades to TLS when `context` is given, then logs in."""
    connect_timeout, timeout = timeouts
    client = aioftp.Client(
        socket_timeout=timeout, connection_timeout=connect_timeout, path_timeout=timeout
    )

    async def opened() -> FtpSession:
        await client.connect(host, port)
        if context is not None:
            await client.upgrade_to_tls(context)
        await client.login(*login)
        await client.command("TYPE I", "200")
        return FtpSession(client)

    try:
        return await asyncio.wait_for(opened(), connect_timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            client.close()
        raise
