"""What the stores over blocking filesystem APIs (a local disk, pyarrow) share: the one funnel
that runs a call in a thread and turns its failures into the store vocabulary, and the ETag
they make of mtime and size, since neither API has one of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.stores.errors import StoreError

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


async def in_thread(
    translate: Callable[[E], StoreError],
    errors: tuple[type[E], ...],
    fn: Callable[..., T],
    *args: Any,
) -> T:
    """`fn(*args)` in a thread; one of `errors` becomes `translate(exc)`, the cause chained.
    A StoreError raised by `fn` itself passes as it is."""
    try:
        return await asyncio.to_thread(fn, *args)
    except StoreError:
        raise
    except errors as exc:
        raise translate(exc) from exc


def mtime_etag(mtime_ns: int, size: int) -> str:
    """A quoted ETag that changes whenever the file is rewritten or resized."""
    return f'"{mtime_ns:x}-{size:x}"'
