"""The local destination (`LocalStore`): `LocalFiles` (files.py) plus client-driven multipart
uploads, staged inside it.

Each upload is a directory `<root>/.gateway-uploads/<id>/` holding a manifest (the target path
and start time) and one file per part named by number and MD5, so every replica sharing the
volume can serve any part. Completing assembles the parts through the store's atomic `write`.
Every filesystem call goes through the store's `_call` funnel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, BinaryIO, TypeVar

from gateway.stores import budget
from gateway.stores.base import ByteSource
from gateway.stores.body_reads import arrived, exact_chunks
from gateway.stores.capabilities import (
    MultipartUploads,
    PartList,
    PendingUpload,
    StaleTemporaries,
)
from gateway.stores.errors import UnknownUpload
from gateway.stores.local.files import STAGING, LocalFiles, discard, fsync_dir
from gateway.stores.local.sweep import remove_stale, remove_tree

_MANIFEST = "manifest.json"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART = re.compile(r"^(\d{5})\.([0-9a-f]{32})\.part$")


Call = Callable[..., Awaitable[Any]]
T = TypeVar("T")


def _part_name(number: int, md5: str) -> str:
    return f"{number:05d}.{md5}.part"


class PartFiles:
    """The stored parts, in order, read as one body (a ByteSource) for `write`."""

    def __init__(self, files: list[str], on_missing: UnknownUpload, call: Call) -> None:
        self._files = list(reversed(files))
        self._on_missing = on_missing
        self._current: BinaryIO | None = None
        self._call = call

    async def read(self, n: int = -1) -> bytes:
        while True:
            if self._current is None:
                if not self._files:
                    return b""
                self._current = await self._call(self._open, self._files.pop())
            data = await self._call(self._current.read, n)
            if data:
                return data
            self.close()

    def _open(self, file: str) -> BinaryIO:
        try:
            return open(file, "rb")
        except FileNotFoundError as exc:  # aborted meanwhile
            raise self._on_missing from exc

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


class LocalStore(MultipartUploads, StaleTemporaries, LocalFiles):
    """A local destination with MLflow's proxied multipart uploads."""

    def _staging(self) -> str:
        return os.path.join(self.root, STAGING)

    def _upload_dir(self, path: str, upload_id: str) -> str:
        """The staging directory of `upload_id`, which must have been started for `path`."""
        if not _UPLOAD_ID.match(upload_id):
            raise self._unknown(path, upload_id)
        directory = os.path.join(self._staging(), upload_id)
        manifest = _manifest(directory)
        if manifest is None or manifest.get("path") != path:
            raise self._unknown(path, upload_id)
        return directory

    def _unknown(self, path: str, upload_id: str) -> UnknownUpload:
        return UnknownUpload(path, upload_id, destination=self.name)

    def _or_unknown(self, where: tuple[str, str], fn: Callable[..., T], *args: Any) -> T:
        """A staging directory that vanished mid-call was completed or aborted meanwhile."""
        try:
            return fn(*args)
        except FileNotFoundError as exc:
            raise self._unknown(*where) from exc

    async def create_upload(self, path: str) -> str:
        upload_id = uuid.uuid4().hex
        await self._call(self._create_upload, path, upload_id)
        return upload_id

    def _create_upload(self, path: str, upload_id: str) -> None:
        """The directory appears complete with its manifest, or not at all."""
        self.local_path(path)  # refuses the staging area itself and symlinks leading out
        temp = os.path.join(self._staging(), f".{upload_id}.tmp")
        os.makedirs(temp)
        with open(os.path.join(temp, _MANIFEST), "x", encoding="utf-8") as file:
            json.dump({"path": path, "started": time.time()}, file)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temp, os.path.join(self._staging(), upload_id))
        fsync_dir(self._staging())

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        directory = await self._call(self._upload_dir, path, upload_id)
        temp = os.path.join(directory, f"{part_number:05d}.{uuid.uuid4().hex}.tmp")
        digest = hashlib.md5(usedforsecurity=False)
        where = (path, upload_id)
        try:
            file = await self._call(self._or_unknown, where, open, temp, "xb")
            body = await arrived(body)  # a part's budget for a client that has begun sending
            async with self.closing(file), budget.streamed_part(size, self.chunk_size):
                async for chunk in exact_chunks(body, size, self.chunk_size):
                    digest.update(chunk)
                    await self._call(file.write, chunk)
                await self._call(file.flush)  # what Python still buffers, or fsync misses it
                await self._call(os.fsync, file.fileno())
            md5 = digest.hexdigest()
            await self._call(self._or_unknown, where, _keep_part, directory, part_number, temp, md5)
        finally:
            await asyncio.to_thread(discard, temp)
        return f'"{digest.hexdigest()}"'

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        directory = await self._call(self._upload_dir, path, upload_id)
        return await self._call(_stored_parts, directory)

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        directory = await self._call(self._upload_dir, path, upload_id)
        files = [os.path.join(directory, _part_name(n, etag.strip('"'))) for n, etag in parts]
        body = PartFiles(files, self._unknown(path, upload_id), self._call)
        try:
            await self.write(path, body)
        finally:
            body.close()
        await self._call(remove_tree, directory)

    async def abort_upload(self, path: str, upload_id: str) -> None:
        directory = await self._call(self._upload_dir, path, upload_id)
        await self._call(remove_tree, directory)

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        return await self._call(self._list_uploads, older_than.timestamp())

    async def remove_stale(self, older_than: datetime) -> int:
        return await self._call(remove_stale, self.root, self._staging(), older_than.timestamp())

    def _list_uploads(self, cutoff: float) -> list[PendingUpload]:
        try:
            names = sorted(os.listdir(self._staging()))
        except FileNotFoundError:
            return []
        found = []
        for name in filter(_UPLOAD_ID.match, names):
            manifest = _manifest(os.path.join(self._staging(), name))
            if manifest is None:
                continue  # completed or aborted meanwhile
            if manifest["started"] < cutoff:
                started = datetime.fromtimestamp(manifest["started"], tz=timezone.utc)
                found.append(PendingUpload(manifest["path"], name, started))
        return found


def _manifest(directory: str) -> dict | None:
    """An upload's manifest; None when the upload is gone (completed, aborted) or unreadable."""
    try:
        with open(os.path.join(directory, _MANIFEST), encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def _keep_part(directory: str, number: int, temp: str, md5: str) -> None:
    """A part appears whole under its final name; an earlier upload of the number goes."""
    final = _part_name(number, md5)
    os.replace(temp, os.path.join(directory, final))
    fsync_dir(directory)
    prefix = f"{number:05d}."
    for name in os.listdir(directory):
        if name.startswith(prefix) and name.endswith(".part") and name != final:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))


def _stored_parts(directory: str) -> PartList:
    matches = filter(None, map(_PART.match, os.listdir(directory)))
    return [(int(match.group(1)), f'"{match.group(2)}"') for match in matches]
