"""The level above experiments, where every destination's experiments appear together."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from gateway.errors import InvalidParameter
from gateway.stores import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.ranges import ByteRange

if TYPE_CHECKING:
    from gateway.routing.destinations import Destinations


class RootListing(ArtifactStore):
    """Lists `path=''` by merging destinations; there is no file at the root to act on."""

    def __init__(self, destinations: Destinations, visible: Callable[[str], bool]) -> None:
        super().__init__("(every destination)")
        self.destinations = destinations
        self.visible = visible

    async def list(self, path: str) -> list[Entry]:
        if path:
            self._refuse(path)
        return await self.destinations.list_root(self.visible)

    @staticmethod
    def _refuse(path: str) -> NoReturn:
        raise InvalidParameter(f"Invalid artifact path {path!r}: name a path below an experiment")

    async def stat(self, path: str) -> FileStat:
        self._refuse(path)

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        self._refuse(path)

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        self._refuse(path)

    async def delete(self, path: str) -> None:
        self._refuse(path)
