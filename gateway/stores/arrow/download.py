"""A download from a pyarrow filesystem: each read runs in a thread through the store's funnel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.stores.base import Download, FileStat
from gateway.stores.errors import DestinationUnavailable


def arrow_failures() -> tuple[type[BaseException], ...]:
    from pyarrow.lib import ArrowException

    return (OSError, ArrowException)


class ArrowDownload(Download):
    def __init__(
        self,
        source: Any,
        stat: FileStat,
        start: int,
        stop: int,
        chunk: int,
        step: Callable[..., Awaitable[Any]],
        verify: Callable[[], Awaitable[None]] | None,
    ) -> None:
        super().__init__(stat, start, stop)
        self._source = source
        self._chunk = chunk
        self._step = step
        self._verify = verify

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.stop - self.start
        while remaining > 0:
            data = await self._step(self._source.read, min(self._chunk, remaining))
            if not data:
                raise DestinationUnavailable("The file became shorter during the download")
            remaining -= len(data)
            yield data
        if self._verify is not None:
            await self._verify()

    async def close(self) -> None:
        with contextlib.suppress(*arrow_failures()):
            await asyncio.to_thread(self._source.close)
