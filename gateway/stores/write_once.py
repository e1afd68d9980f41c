"""Write-once paths (MLflow #3175): inside them a stored file is never overwritten or deleted.

Patterns are matched against the path inside the destination with `fnmatch` (`*` crosses `/`,
so `*/models/*` is every logged model's files); a pattern ending in `/` is a prefix. They are
set per destination, and per route: a route's patterns hold for the paths that route sends to
the destination (the route that wins for the path, as routing picks it). Each store
makes the write itself conditional where its backend can (S3 `If-None-Match: *`, an exclusive
`link` on local disk) and checks just before committing elsewhere (docs/integrity.md).
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from gateway.stores.errors import AlreadyExists, NotFound
from gateway.tenancy import SelectorMap, key_of

if TYPE_CHECKING:  # base.py holds a WriteOnce: this module is imported by it
    from gateway.stores.base import ArtifactStore

_MAX_WALK = 100_000  # files looked at before a directory delete: a bound, not a limit in use


def _normalised(patterns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.lstrip("/") + "*" if p.endswith("/") else p.lstrip("/") for p in patterns)


class WriteOnce:
    """The destination's patterns, and (`routes`) each route's, found by the routing key of
    the path; routes without patterns map to `()` so they win over less specific ones."""

    def __init__(
        self,
        patterns: list[str] | tuple[str, ...] = (),
        routes: SelectorMap[tuple[str, ...]] | None = None,
    ) -> None:
        self.patterns = _normalised(patterns)
        self.routes = routes if routes and any(v for _, v in routes.items) else None
        if self.routes is not None:
            items = [(selector, _normalised(v)) for selector, v in self.routes.items]
            self.routes = SelectorMap(items, ())

    def __bool__(self) -> bool:
        return bool(self.patterns) or self.routes is not None

    def covers(self, path: str) -> bool:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.patterns):
            return True
        if self.routes is None:
            return False
        return any(fnmatch.fnmatchcase(path, p) for p in self.routes.get(key_of(path)))


def exists_error(path: str, destination: str) -> AlreadyExists:
    return AlreadyExists(
        f"'{path}' is write-once and already stored: it cannot be overwritten or deleted",
        destination=destination,
        code="WriteOnce",
    )


async def refuse_existing(store: ArtifactStore, path: str) -> None:
    """For stores without a conditional write: a check just before the commit."""
    try:
        await store.stat(path)
    except NotFound:
        return
    raise exists_error(path, store.name)


async def refuse_overwrite(store: ArtifactStore, path: str) -> None:
    """Every write route, before it reads the body or completes an upload: a write-once file
    already stored is 409 at once (no bytes sent for nothing), and a store with no conditional
    write of its own (a plug-in's, say) still gets this look, with the window until its commit
    that docs/integrity.md states. Stores that can make the commit conditional still do."""
    if store.write_once.covers(path):
        await refuse_existing(store, path)


async def refuse_delete(store: ArtifactStore, path: str) -> None:
    """409 when the delete would remove a write-once file: `path` itself or one inside it. A
    file stored under a directory while it is deleted is the documented window."""
    if not store.write_once:
        return
    pending, seen = [path], 0
    while pending and seen < _MAX_WALK:
        current = pending.pop()
        entries = await store.list(current)
        if not entries:
            if store.write_once.covers(current):
                try:
                    await store.stat(current)
                except NotFound:
                    continue
                raise exists_error(current, store.name)
            continue
        for entry in entries:
            seen += 1
            child = f"{current}/{entry.name}" if current else entry.name
            if entry.is_dir:
                pending.append(child)
            elif store.write_once.covers(child):
                raise exists_error(child, store.name)
