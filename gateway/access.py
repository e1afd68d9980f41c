"""Which store serves an artifact path for this request, and whether the caller may act there.

Every route that touches artifact bytes asks here, after path safety and before the store, so
per-experiment routing and permissions live in one place.
"""

from __future__ import annotations

import enum

from aiohttp import web

from gateway.destinations import Destinations
from gateway.stores import ArtifactStore

DESTINATIONS = web.AppKey("destinations", Destinations)


class Action(enum.Enum):
    READ = "read"  # get, head, list
    WRITE = "write"  # upload, multipart upload
    DELETE = "delete"


def store_for(request: web.Request, path: str, action: Action) -> ArtifactStore:
    """`path` is normalised (`<experiment>/<run>/artifacts/...`); its first segment routes it."""
    return request.app[DESTINATIONS].for_path(path)
