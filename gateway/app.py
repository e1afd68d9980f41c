"""Builds the aiohttp application from settings; stores are created before serving starts."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import redact
from gateway.access import DESTINATIONS
from gateway.auth.authenticator import Authenticator
from gateway.auth.policy import AUTHENTICATOR, authenticate
from gateway.cleanup import cleanup_context
from gateway.config import Settings
from gateway.destinations import Destinations
from gateway.errors import ApiError
from gateway.links import LINKS, Links
from gateway.middleware import errors_as_json
from gateway.routes import (
    artifacts,
    health,
    multipart,
    presigned,
    server_info,
    tracking_artifacts,
)
from gateway.routes.passthrough import passthrough
from gateway.routing import InvalidRouting, RoutingTable, destination_configs
from gateway.signing import signer_from
from gateway.stores import InvalidDestination, create_store
from gateway.upstream import Upstream, install

log = logging.getLogger(__name__)

_BOTOCORE_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def register_secrets(settings: Settings) -> None:
    """Every credential the gateway knows is masked in logs and messages from here on."""
    redact.register(*(os.environ.get(name) for name in _BOTOCORE_SECRET_ENV))
    redact.register(*settings.default_destination().secrets())
    for dest in settings.destinations.values():
        redact.register(*dest.secrets())
    for user in settings.auth.users if settings.auth else ():
        redact.register(*user.secrets())


def build_destinations(settings: Settings) -> Destinations:
    """Raises InvalidDestination (every problem, one each) before anything listens."""
    register_secrets(settings)
    problems: list[str] = []
    try:
        table: RoutingTable | None = RoutingTable.from_settings(settings)
    except InvalidRouting as exc:
        problems, table = exc.problems, None
    stores = {}
    for name, dest in destination_configs(settings, table).items():
        try:
            dest = dest.with_secret_files()
            redact.register(*dest.secrets())
            stores[name] = create_store(dest, settings)
        except (InvalidDestination, ValueError) as exc:
            named = name in settings.destinations
            problems.append(f"destinations.{name}: {exc}" if named else str(exc))
    if problems or table is None:
        raise InvalidRouting(problems)
    return Destinations(stores, table)


def build_app(settings: Settings, destinations: Destinations) -> web.Application:
    # Callers are identified before anything is answered or passed through.
    app = web.Application(middlewares=[errors_as_json, authenticate, passthrough])
    app[DESTINATIONS] = destinations
    if settings.auth is not None:
        app[AUTHENTICATOR] = Authenticator(settings.auth)

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
    if settings.tracking_uri:
        install(app, Upstream(settings.tracking_uri, settings.upstream))
        tracking_artifacts.add_routes(app)
    health.add_routes(app)
    artifacts.add_routes(app)
    multipart.add_routes(app)
    presigned.add_routes(app)
    server_info.add_routes(app)
    return app
