"""Which store serves an artifact path: the routing table over one store per destination."""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Awaitable, Callable, Mapping

from gateway.routing.table import IMPLICIT, RoutingTable
from gateway.stores import ArtifactStore, Entry, budget
from gateway.tenancy import TenancyKey, key_of

log = logging.getLogger(__name__)


class Destinations:
    """Each destination has its own store, and so its own client and credentials."""

    def __init__(
        self, stores: ArtifactStore | Mapping[str, ArtifactStore], table: RoutingTable | None = None
    ) -> None:
        """A bare store serves every experiment, as `--artifacts-destination` alone does."""
        self.stores = {IMPLICIT: stores} if isinstance(stores, ArtifactStore) else dict(stores)
        self.table = table or RoutingTable.single()

    @property
    def default(self) -> ArtifactStore:
        return self.stores[self.table.default]

    def for_key(self, key: TenancyKey) -> ArtifactStore:
        return self.stores[self.table.destination_of(key)]

    def for_path(self, path: str) -> ArtifactStore:
        """`path` is a normalised stored path."""
        return self.for_key(key_of(path))

    def all(self) -> list[ArtifactStore]:
        return list(self.stores.values())

    async def list_container(
        self, container: str, visible: Callable[[TenancyKey], Awaitable[bool]]
    ) -> list[Entry]:
        """Each destination contributes only the entries routed to it (and `visible`)."""

        async def routed_here(name: str, store: ArtifactStore) -> list[Entry]:
            kept = []
            for entry in await store.list(container):
                key = key_of(posixpath.join(container, entry.name))
                if self.table.destination_of(key) == name and await visible(key):
                    kept.append(entry)
            return kept

        found = await asyncio.gather(*(routed_here(n, s) for n, s in self.stores.items()))
        return sorted((e for entries in found for e in entries), key=lambda entry: entry.name)

    async def start(self) -> None:
        for store in self.all():
            await store.start()
        budget.trim_heap()

    async def close(self) -> None:
        for store in self.all():
            try:
                await store.close()
            except Exception as exc:  # closing the others matters more than this one's error
                log.warning("closing destination %s (%s) failed: %r", store.name, store.uri, exc)
