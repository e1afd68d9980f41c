"""A download from a remote file tree: the session it reads on stays leased until it closes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from gateway.stores.base import Download, FileStat
from gateway.stores.errors import StoreError


class TreeDownload(Download):
    """Holds its session until closed: the transfer is the session's one operation."""

    def __init__(
        self,
        pieces: AsyncIterator[bytes],
        stat: FileStat,
        span: tuple[int, int],
        chunk: int,
        done: Callable[[BaseException | None], Awaitable[None]],
        translate: Callable[[BaseException], StoreError],
    ) -> None:
        super().__init__(stat, *span)
        self.chunk_size = chunk
        self._pieces = pieces
        self._done = done
        self._translate = translate
        self._failure: BaseException | None = None
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._pieces:
                yield piece
        except StoreError as exc:
            self._failure = exc
            raise
        except Exception as exc:
            self._failure = exc
            raise self._translate(exc) from exc

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await self._pieces.aclose()  # type: ignore[attr-defined]
            await self._done(self._failure)
