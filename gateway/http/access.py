"""Which store serves an artifact path for this request, and whether the caller may act there.

Every route that touches artifact bytes asks here, after path safety and before the store, so
per-experiment routing and permissions live in one place.
"""

from __future__ import annotations

from aiohttp import web

from gateway.auth.actions import Action
from gateway.auth.policy import authorize, enforce_on_passthrough, readable
from gateway.errors import InvalidParameter
from gateway.experiments import experiment_of
from gateway.routing.destinations import Destinations
from gateway.routing.root_listing import RootListing
from gateway.stores import ArtifactStore

DESTINATIONS = web.AppKey("destinations", Destinations)

__all__ = ["DESTINATIONS", "Action", "enforce_on_passthrough", "store_for"]


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
    authorize(request, experiment_of(path), action)
    return destinations.for_path(path)
