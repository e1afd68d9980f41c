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
from gateway.experiments import experiment_of
from gateway.http.request_stats import note_target
from gateway.routing.destinations import Destinations
from gateway.routing.root_listing import RootListing
from gateway.stores import ArtifactStore

DESTINATIONS = web.AppKey("destinations", Destinations)

__all__ = [
    "DESTINATIONS",
    "Action",
    "enforce_on_passthrough",
    "query_path",
    "store_for",
    "url_path",
]


def url_path(request: web.Request) -> tuple[str, bool]:
    """The route's `{path}` (aiohttp decodes it), normalised, and whether it ended in '/'.

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
    return paths.normalize(matched), matched.endswith("/")


def query_path(request: web.Request) -> str:
    return paths.normalize(request.query.get("path", ""))


def store_for(request: web.Request, path: str, action: Action) -> ArtifactStore:
    """`path` is normalised (`<experiment>/<run>/artifacts/...`); its first segment routes it.

    401 without known credentials and 403 without the permission, when auth is configured.
    The root (`path=''`) can only be listed: every destination's experiments, as far as the
    caller may read them.
    """
    destinations = request.app[DESTINATIONS]
    if not path:
        if action is not Action.READ:
            raise InvalidParameter("The artifact root can only be listed: name a path")
        return RootListing(destinations, readable(request))
    experiment = experiment_of(path)
    authorize(request, experiment, action)
    store = destinations.for_path(path)
    note_target(request, store.name, experiment)
    return store
