"""Liveness and version: answered by the gateway itself in every mode."""

from __future__ import annotations

from aiohttp import web

from gateway import __version__


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def version(request: web.Request) -> web.Response:
    return web.Response(text=__version__)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/version", version)
