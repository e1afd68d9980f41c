"""Builds the aiohttp application from settings; stores are created before serving starts."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import redact
from gateway.access import DESTINATIONS
from gateway.cleanup import cleanup_context
from gateway.config import Settings
from gateway.destinations import Destinations
from gateway.errors import ApiError
from gateway.links import LINKS, Links
from gateway.middleware import errors_as_json
from gateway.routes import artifacts, health, multipart, presigned
from gateway.signing import signer_from
from gateway.stores import create_store

log = logging.getLogger(__name__)

_BOTOCORE_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def build_destinations(settings: Settings) -> Destinations:
    """Raises InvalidDestination for a URI that cannot work, before anything listens."""
    default = settings.default_destination()
    redact.register(*default.secrets(), *(os.environ.get(name) for name in _BOTOCORE_SECRET_ENV))
    return Destinations(create_store(default, settings))


def build_app(settings: Settings, destinations: Destinations) -> web.Application:
    app = web.Application(middlewares=[errors_as_json])
    app[DESTINATIONS] = destinations

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await destinations.start()
        for store in destinations.all():
            try:
                await store.check()
            except ApiError as exc:
                log.warning("destination not ready yet: %s", exc.message)
        yield
        await destinations.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(cleanup_context(destinations, settings.multipart))
    app[multipart.MULTIPART] = settings.multipart
    app[LINKS] = Links(
        signer_from(settings.multipart), settings.multipart.url_ttl, settings.public_url
    )
    health.add_routes(app)
    artifacts.add_routes(app)
    multipart.add_routes(app)
    presigned.add_routes(app)
    return app
