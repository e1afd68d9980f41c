"""A store called directly in a test: one scenario between `start` and `close`, a whole read,
and an aborted multipart upload that no call knows any more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from gateway.stores.errors import UnknownUpload
from gateway.stores.ranges import ByteRange
from tests.helpers.bodies import Bytes

T = TypeVar("T")


def run(store: Any, scenario: Callable[[], Awaitable[T]]) -> T:
    """Runs `scenario` on a started store in a fresh event loop; the store is closed after it."""

    async def wrapped() -> T:
        await store.start()
        try:
            return await scenario()
        finally:
            await store.close()

    return asyncio.run(wrapped())


async def read_all(store: Any, path: str, byte_range: ByteRange | None = None) -> bytes:
    async with await store.open(path, byte_range) as download:
        return b"".join([piece async for piece in download.chunks()])


async def check_abort_forgets(store: Any, path: str, data: bytes) -> None:
    """An upload with one part, aborted: listing its parts or aborting it again is unknown."""
    upload = await store.create_upload(path)
    await store.upload_part(path, upload, 1, Bytes(data), len(data))
    await store.abort_upload(path, upload)
    for call in (store.list_parts, store.abort_upload):
        with pytest.raises(UnknownUpload):
            await call(path, upload)
