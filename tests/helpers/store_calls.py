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


async def parts_out_of_order(store: Any, path: str, one: bytes, two: bytes) -> tuple[str, str, str]:
    """An upload whose part 2 arrives before part 1; listed in part order. (upload, etag 1, 2)"""
    upload = await store.create_upload(path)
    second = await store.upload_part(path, upload, 2, Bytes(two), len(two))
    first = await store.upload_part(path, upload, 1, Bytes(one), len(one))
    assert await store.list_parts(path, upload) == [(1, first), (2, second)]
    return upload, first, second
