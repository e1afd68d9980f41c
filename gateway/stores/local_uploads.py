"""Client-driven multipart uploads on a local destination, staged inside it.

Each upload is a directory `<root>/.gateway-uploads/<id>/` holding a manifest (the target path
and start time) and one file per part named by number and MD5, so every replica sharing the
volume can serve any part. Completing assembles the parts through the store's atomic `write`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import BinaryIO

from gateway.errors import UnknownUpload
from gateway.stores.base import ByteSource, PartList, PendingUpload, exact_chunks

STAGING = ".gateway-uploads"
_MANIFEST = "manifest.json"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART = re.compile(r"^(\d{5})\.([0-9a-f]{32})\.part$")


def _part_name(number: int, md5: str) -> str:
    return f"{number:05d}.{md5}.part"


class PartFiles:
    """The stored parts, in order, read as one body (a ByteSource) for `write`."""

    def __init__(self, files: list[str], on_missing: UnknownUpload) -> None:
        self._files = list(reversed(files))
        self._on_missing = on_missing
        self._current: BinaryIO | None = None

    async def read(self, n: int = -1) -> bytes:
        while True:
            if self._current is None:
                if not self._files:
                    return b""
                self._current = await asyncio.to_thread(self._open, self._files.pop())
            data = await asyncio.to_thread(self._current.read, n)
            if data:
                return data
            self.close()

    def _open(self, file: str) -> BinaryIO:
        try:
            return open(file, "rb")
        except FileNotFoundError:  # aborted meanwhile
            raise self._on_missing from None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


class LocalUploads:
    """Mixed into LocalStore, which provides `root`, `chunk_size`, `_full` and `write`."""

    root: str
    chunk_size: int
    _full: Callable[[str], str]
    write: Callable[..., Awaitable[None]]

    def _staging(self) -> str:
        return os.path.join(self.root, STAGING)

    def _upload_dir(self, path: str, upload_id: str) -> str:
        """The staging directory of `upload_id`, which must have been started for `path`."""
        if not _UPLOAD_ID.match(upload_id):
            raise UnknownUpload(path, upload_id)
        directory = os.path.join(self._staging(), upload_id)
        manifest = _manifest(directory)
        if manifest is None or manifest.get("path") != path:
            raise UnknownUpload(path, upload_id)
        return directory

    async def create_upload(self, path: str) -> str:
        self._full(path)  # refuses the staging area itself and symlinks leading out
        upload_id = uuid.uuid4().hex
        await asyncio.to_thread(self._create_upload, path, upload_id)
        return upload_id

    def _create_upload(self, path: str, upload_id: str) -> None:
        """The directory appears complete with its manifest, or not at all."""
        temp = os.path.join(self._staging(), f".{upload_id}.tmp")
        os.makedirs(temp)
        with open(os.path.join(temp, _MANIFEST), "x", encoding="utf-8") as file:
            json.dump({"path": path, "started": time.time()}, file)
        os.rename(temp, os.path.join(self._staging(), upload_id))

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        directory = await asyncio.to_thread(self._upload_dir, path, upload_id)
        temp = os.path.join(directory, f"{part_number:05d}.{uuid.uuid4().hex}.tmp")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with await asyncio.to_thread(open, temp, "xb") as file:
                async for chunk in exact_chunks(body, size, self.chunk_size):
                    digest.update(chunk)
                    await asyncio.to_thread(file.write, chunk)
                await asyncio.to_thread(os.fsync, file.fileno())
            await asyncio.to_thread(_keep_part, directory, part_number, temp, digest.hexdigest())
        except FileNotFoundError:
            raise UnknownUpload(path, upload_id) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, temp)
        return f'"{digest.hexdigest()}"'

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        directory = await asyncio.to_thread(self._upload_dir, path, upload_id)
        return await asyncio.to_thread(_stored_parts, directory)

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        directory = await asyncio.to_thread(self._upload_dir, path, upload_id)
        files = [os.path.join(directory, _part_name(n, etag.strip('"'))) for n, etag in parts]
        body = PartFiles(files, UnknownUpload(path, upload_id))
        try:
            await self.write(path, body)
        finally:
            body.close()
        await asyncio.to_thread(shutil.rmtree, directory, True)

    async def abort_upload(self, path: str, upload_id: str) -> None:
        directory = await asyncio.to_thread(self._upload_dir, path, upload_id)
        await asyncio.to_thread(shutil.rmtree, directory, True)

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        return await asyncio.to_thread(self._list_uploads, older_than.timestamp())

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
    prefix = f"{number:05d}."
    for name in os.listdir(directory):
        if name.startswith(prefix) and name.endswith(".part") and name != final:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))


def _stored_parts(directory: str) -> PartList:
    matches = filter(None, map(_PART.match, os.listdir(directory)))
    return [(int(match.group(1)), f'"{match.group(2)}"') for match in matches]
