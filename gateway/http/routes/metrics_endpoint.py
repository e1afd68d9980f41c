"""`/metrics`: Prometheus' text format, every worker's samples with `--workers`.

Open by default, as Prometheus scrapes without credentials; with `metrics.require_permission`
only users with `metrics: true` may read it. Nothing in it names a secret, a user or an
artifact path (see `gateway.metrics`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.config import MetricsEndpoint
from gateway.http.guard import MetricsReader, Open, add
from gateway.metrics import scrape


async def metrics(request: web.Request) -> web.Response:
    body, content_type = scrape()
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application, config: MetricsEndpoint) -> None:
    """Disabled: no route (so with an upstream, `/metrics` is passed through like any other)."""
    if config.enabled:
        rule = MetricsReader() if config.require_permission else Open()
        add(app, ("GET", "HEAD"), "/metrics", metrics, rule)
