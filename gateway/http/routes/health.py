"""Liveness, readiness and version: answered by the gateway itself in every mode.

All three are open. Anonymous `/ready` says only whether the gateway is ready: which upstream
and destinations it uses, and why one fails, is for known users (or everyone with
`ready_details`). Since anyone may ask, one probe round serves every `/ready` that arrives
while it runs and for `READY_REUSE` s after: callers cannot multiply the gateway's calls to
its backends and tracking server.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
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
READY_REUSE = 1.0  # seconds; far below a load balancer's probe period (Kubernetes: 10 s)
_VERSION_LIMIT = 4096
Report = dict[str, Any]


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


async def _destination(store: ArtifactStore) -> Report:
    problem = await probe(store)
    report = {"name": store.name, "uri": store.uri, "ready": problem is None}
    return report if problem is None else report | {"error": redact(problem.message)}


async def _upstream(app: web.Application) -> Report | None:
    upstream = app.get(UPSTREAM)
    if upstream is None:
        return None
    problem = await upstream.check()
    report = {"url": upstream.base_url, "ready": problem is None}
    return report if problem is None else report | {"error": redact(problem)}


async def _probe_round(app: web.Application) -> tuple[Report | None, list[Report]]:
    stores = app[DESTINATIONS].all()
    upstream, *destinations = await asyncio.gather(
        _upstream(app), *(_destination(store) for store in stores)
    )
    return upstream, destinations


class _Rounds:
    """The current or last probe round, shared by the `/ready` requests it answers."""

    def __init__(self) -> None:
        self._task: asyncio.Task[tuple[Report | None, list[Report]]] | None = None
        self._ended = -math.inf

    async def results(self, app: web.Application) -> tuple[Report | None, list[Report]]:
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or (task.done() and loop.time() - self._ended > READY_REUSE):
            task = self._task = asyncio.create_task(_probe_round(app))
            task.add_done_callback(lambda _: setattr(self, "_ended", loop.time()))
        return await asyncio.shield(task)  # a caller that leaves does not end it for the rest

    async def close(self, app: web.Application) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


_ROUNDS = web.AppKey("ready_rounds", _Rounds)


async def ready(request: web.Request) -> web.Response:
    """200 when the upstream (if any) and every destination answer, else 503; 503 at once
    while draining, so load balancers stop sending before the listener closes."""
    if request.app[DRAIN].draining:
        return web.json_response({"ready": False}, status=503)
    upstream, destinations = await request.app[_ROUNDS].results(request.app)
    parts = [*destinations, *([upstream] if upstream else [])]
    draining = request.app[DRAIN].draining  # again: it may have begun during the probes
    body: Report = {"ready": not draining and all(part["ready"] for part in parts)}
    if request.app[READY_DETAILS] or known_user(request) is not None:
        body |= {"upstream": upstream, "destinations": destinations}
    return web.json_response(body, status=200 if body["ready"] else 503)


def add_routes(app: web.Application) -> None:
    """`/ready` reads credentials when sent: known users see the details."""
    rounds = app[_ROUNDS] = _Rounds()
    app.on_cleanup.append(rounds.close)
    add(app, ("GET", "HEAD"), "/health", health, Open())
    add(app, ("GET", "HEAD"), "/version", version, Open())
    add(app, ("GET", "HEAD"), "/ready", ready, Identified())
