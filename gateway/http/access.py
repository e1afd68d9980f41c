"""Which artifact path a request names, which store serves it, and whether the caller may act.

Every route that touches artifact bytes asks here, after path safety and before the store, so
per-experiment routing and permissions live in one place.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from gateway import paths
from gateway.auth.actions import Action
from gateway.auth.policy import authorize, enforce_on_passthrough, readable
from gateway.errors import InvalidParameter
from gateway.http.request_stats import note_target
from gateway.http.workspaces import resolved
from gateway.routing.destinations import Destinations
from gateway.routing.root_listing import RootListing
from gateway.stores import ArtifactStore
from gateway.tenancy import key_of, scoped_path

DESTINATIONS = web.AppKey("destinations", Destinations)

__all__ = [
    "DESTINATIONS",
    "Action",
    "enforce_on_passthrough",
    "query_path",
    "store_for",
    "url_path",
]


def url_path(request: web.Request, *, scoped: bool = True) -> tuple[str, bool]:
    """The route's `{path}` (aiohttp decodes it), normalised and, when `scoped`, where MLflow
    stores it for the request's workspace (`tenancy.scoped_path`); and whether it ended in '/'.
    Signed links name the stored path already (`scoped=False`).

    The path is the one the route matched, so a proxy that routes on the decoded URL sees the
    same experiment. The raw URL is checked whole: no route of the gateway has a percent-encoded
    dot, separator or NUL, and a path that is not UTF-8 is refused rather than kept encoded.
    """
    raw = request.rel_url.raw_path
    paths.check_raw(raw)
    try:
        urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidParameter("Invalid artifact path: not valid UTF-8") from exc
    matched = request.match_info.get("path", "")
    path = paths.normalize(matched)
    return (scoped_path(path, resolved(request)) if scoped else path), matched.endswith("/")


def query_path(request: web.Request) -> str:
    """`?path=` of a listing, normalised and scoped as `url_path`."""
    return scoped_path(paths.normalize(request.query.get("path", "")), resolved(request))


async def store_for(request: web.Request, path: str, action: Action) -> ArtifactStore:
    """`path` is a stored path (`url_path`); its tenancy key routes and authorises it.

    401 without known credentials and 403 without the permission, when auth is configured.
    A workspace's top level (`''`, `workspaces/<ws>`) can only be listed: every destination's
    experiments there, as far as the caller may read them.
    """
    destinations = request.app[DESTINATIONS]
    key = key_of(path)
    if not key.experiment:
        if action is not Action.READ:
            raise InvalidParameter("The artifact root can only be listed: name a path")
        return RootListing(destinations, readable(request), path)
    await authorize(request, key, action)
    store = destinations.for_key(key)
    note_target(request, store.name, key.experiment)
    return store
