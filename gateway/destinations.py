"""Which store serves an artifact path. One default today; per-experiment routes build on it."""

from __future__ import annotations

import logging

from gateway.stores import ArtifactStore

log = logging.getLogger(__name__)


class Destinations:
    def __init__(self, default: ArtifactStore) -> None:
        self.default = default

    def for_path(self, path: str) -> ArtifactStore:
        """`path` is normalised; its first segment is the experiment ID."""
        return self.default

    def all(self) -> list[ArtifactStore]:
        return [self.default]

    async def start(self) -> None:
        for store in self.all():
            await store.start()

    async def close(self) -> None:
        for store in self.all():
            try:
                await store.close()
            except Exception as exc:
                log.warning("closing %s failed: %s", store.uri, exc)
