"""A store called directly in a test: one scenario between `start` and `close`, and a whole read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.stores.ranges import ByteRange

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
