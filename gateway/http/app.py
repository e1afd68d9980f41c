"""Builds the aiohttp application; destinations are built (routing.build) before serving starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.auth.policy import SOURCES
from gateway.auth.sources import Sources
from gateway.config import Settings
from gateway.forwarded import TRUSTED_PROXIES, TrustedProxies
from gateway.http import workspaces
from gateway.http.access import DESTINATIONS
from gateway.http.drain import DRAIN, Drain
from gateway.http.errors import errors_as_json
from gateway.http.guard import guard, require_rules
from gateway.http.hosts import ALLOWED_HOSTS, AllowedHosts, check_host, own_names
from gateway.http.origins import ALLOWED_ORIGINS, AllowedOrigins, check_origin
from gateway.http.request_log import add_request_id, observe
from gateway.http.routes import (
    artifacts,
    download_links,
    health,
    metrics_endpoint,
    multipart,
    openapi,
    server_info,
    traces,
    tracking_artifacts,
    tracking_presigned,
)
from gateway.http.routes.passthrough import install_passthrough, passthrough
from gateway.http.routes.shared import MULTIPART
from gateway.http.shares import fair_share
from gateway.http.timeouts import RATE_FLOOR, RateFloor, body_idle_timeout
from gateway.links.signing import signer_from
from gateway.links.urls import LINKS, Links
from gateway.metrics import set_enabled as set_metrics_enabled
from gateway.routing.destinations import Destinations
from gateway.stores import probe
from gateway.stores.cleanup import cleanup_context
from gateway.upstream.client import Upstream, install

log = logging.getLogger(__name__)


def build_app(settings: Settings, destinations: Destinations) -> web.Application:
    # A foreign Host, or a write from another site's page, is refused before anything is read;
    # body reads get their idle limit; every request is decided by its route's rule before
    # anything is answered or passed on.
    # `observe` is outermost: it counts and logs the status the client gets.
    floor = RateFloor(settings.fair_share.min_rate, settings.fair_share.rate_grace)
    middlewares = [
        observe,
        errors_as_json,
        check_host,
        check_origin,
        body_idle_timeout(settings.body_idle_timeout, floor),
        guard,
        fair_share(settings.fair_share.max_requests_per_user),
        passthrough,
    ]
    app = web.Application(middlewares=middlewares)
    app.on_startup.append(require_rules)
    app.on_response_prepare.append(add_request_id)
    app[DRAIN] = Drain()
    app[RATE_FLOOR] = floor
    own = own_names(settings.public_url, settings.upstream.gateway_hosts)
    app[ALLOWED_HOSTS] = AllowedHosts(settings.allowed_hosts, own)
    app[ALLOWED_ORIGINS] = AllowedOrigins(settings.cors_allowed_origins, own)
    app[TRUSTED_PROXIES] = TrustedProxies(settings.trusted_proxies)
    app[health.READY_DETAILS] = settings.ready_details
    app[DESTINATIONS] = destinations
    workspaces.install(app, settings.workspaces)
    if settings.auth is not None:
        app[SOURCES] = sources = Sources(settings.auth, settings.tracking_uri)

        async def identity_sources(app: web.Application) -> AsyncIterator[None]:
            await sources.start()  # the auth app's and the issuer's clients
            yield
            await sources.close()

        app.cleanup_ctx.append(identity_sources)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await destinations.start()
        for store in destinations.all():
            if (problem := await probe(store)) is not None:
                log.warning("destination %s not ready yet: %s", store.name, problem.message)
        yield
        await destinations.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(cleanup_context(destinations, settings.multipart))
    app[MULTIPART] = settings.multipart
    app[LINKS] = Links(
        signer_from(settings.multipart), settings.multipart.url_ttl, settings.public_url
    )
    if settings.tracking_uri:
        install(app, Upstream(settings.tracking_uri, settings.upstream))
        install_passthrough(app)
        tracking_artifacts.add_routes(app)
        traces.add_routes(app)
        tracking_presigned.add_routes(app)
    health.add_routes(app)
    openapi.add_routes(app)
    artifacts.add_routes(app)
    multipart.add_routes(app)
    download_links.add_routes(app)
    server_info.add_routes(app)
    set_metrics_enabled(settings.metrics.enabled)
    metrics_endpoint.add_routes(app, settings.metrics)
    return app
