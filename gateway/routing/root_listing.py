"""The level above experiments (the root, `workspaces/<ws>`), where every destination's
experiments appear together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

from gateway.errors import InvalidParameter
from gateway.stores import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.ranges import ByteRange
from gateway.tenancy import TenancyKey

if TYPE_CHECKING:
    from gateway.routing.destinations import Destinations


class RootListing(ArtifactStore):
    """Lists `container` (a workspace's top level) by merging destinations; there is no file
    there to act on."""

    def __init__(
        self,
        destinations: Destinations,
        visible: Callable[[TenancyKey], Awaitable[bool]],
        container: str = "",
    ) -> None:
        super().__init__("(every destination)")
        self.destinations = destinations
        self.visible = visible
        self.container = container

    async def list(self, path: str) -> list[Entry]:
        if path != self.container:
            self._refuse(path)
        return await self.destinations.list_container(self.container, self.visible)

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
