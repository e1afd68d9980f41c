"""Liveness, readiness and version: answered by the gateway itself in every mode."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.http.access import DESTINATIONS
from gateway.http.guard import Open, add
from gateway.redact import redact
from gateway.stores import ArtifactStore, probe
from gateway.upstream.client import UPSTREAM


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def version(request: web.Request) -> web.Response:
    return web.Response(text=__version__)


async def _destination(store: ArtifactStore) -> dict[str, Any]:
    problem = await probe(store)
    if problem is not None:
        return {"uri": store.uri, "ready": False, "error": redact(problem.message)}
    return {"uri": store.uri, "ready": True}


async def _upstream(request: web.Request) -> dict[str, Any] | None:
    upstream = request.app.get(UPSTREAM)
    if upstream is None:
        return None
    problem = await upstream.check()
    report = {"url": upstream.base_url, "ready": problem is None}
    return report if problem is None else report | {"error": redact(problem)}


async def ready(request: web.Request) -> web.Response:
    """200 when the upstream (if any) and every destination answer, else 503; each one listed."""
    stores = request.app[DESTINATIONS].all()
    upstream, *destinations = await asyncio.gather(
        _upstream(request), *(_destination(store) for store in stores)
    )
    parts = [*destinations, *([upstream] if upstream else [])]
    is_ready = all(part["ready"] for part in parts)
    body = {"ready": is_ready, "upstream": upstream, "destinations": destinations}
    return web.json_response(body, status=200 if is_ready else 503)


def add_routes(app: web.Application) -> None:
    """With an upstream, `/version` is the tracking server's (the UI shows it)."""
    routes = {"/health": health, "/ready": ready}
    if UPSTREAM not in app:
        routes["/version"] = version
    for path, handler in routes.items():
        add(app, ("GET", "HEAD"), path, handler, Open())
