"""Liveness, readiness and version: answered by the gateway itself in every mode.

All three are open. Anonymous `/ready` says only whether the gateway is ready: which upstream
and destinations it uses, and why one fails, is for known users (or everyone with
`ready_details`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.auth.policy import known_user
from gateway.http.access import DESTINATIONS
from gateway.http.drain import DRAIN
from gateway.http.guard import Identified, Open, add
from gateway.redact import redact
from gateway.stores import ArtifactStore, probe
from gateway.upstream.client import UPSTREAM

READY_DETAILS = web.AppKey("ready_details", bool)
_VERSION_LIMIT = 4096


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def version(request: web.Request) -> web.Response:
    """The gateway's version; with an upstream the tracking server's (the UI shows it), asked
    by the gateway with none of the caller's headers, so no credentials are needed here."""
    upstream = request.app.get(UPSTREAM)
    if upstream is None:
        return web.Response(text=__version__)
    status, content_type, body = await upstream.get_plain("/version", _VERSION_LIMIT)
    return web.Response(status=status, body=body, headers={"Content-Type": content_type})


async def _destination(store: ArtifactStore) -> dict[str, Any]:
    problem = await probe(store)
    report = {"name": store.name, "uri": store.uri, "ready": problem is None}
    return report if problem is None else report | {"error": redact(problem.message)}


async def _upstream(request: web.Request) -> dict[str, Any] | None:
    upstream = request.app.get(UPSTREAM)
    if upstream is None:
        return None
    problem = await upstream.check()
    report = {"url": upstream.base_url, "ready": problem is None}
    return report if problem is None else report | {"error": redact(problem)}


async def ready(request: web.Request) -> web.Response:
    """200 when the upstream (if any) and every destination answer, else 503; 503 at once
    while draining, so load balancers stop sending before the listener closes."""
    if request.app[DRAIN].draining:
        return web.json_response({"ready": False}, status=503)
    stores = request.app[DESTINATIONS].all()
    upstream, *destinations = await asyncio.gather(
        _upstream(request), *(_destination(store) for store in stores)
    )
    parts = [*destinations, *([upstream] if upstream else [])]
    draining = request.app[DRAIN].draining  # again: it may have begun during the probes
    body: dict[str, Any] = {"ready": not draining and all(part["ready"] for part in parts)}
    if request.app[READY_DETAILS] or known_user(request) is not None:
        body |= {"upstream": upstream, "destinations": destinations}
    return web.json_response(body, status=200 if body["ready"] else 503)


def add_routes(app: web.Application) -> None:
    """`/ready` reads credentials when sent: known users see the details."""
    add(app, ("GET", "HEAD"), "/health", health, Open())
    add(app, ("GET", "HEAD"), "/version", version, Open())
    add(app, ("GET", "HEAD"), "/ready", ready, Identified())
