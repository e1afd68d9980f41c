"""Per request: its ID, its counters and histogram, its access-log line, its place in the drain.

The `observe` middleware is the outermost, so it sees the status the client gets; the access
logger writes one line per request once the answer is sent (bytes out known then).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from gateway.auth.policy import known_user
from gateway.forwarded import client_address
from gateway.http.drain import DRAIN
from gateway.http.guard import METHODS
from gateway.http.request_stats import OBSERVED, Observed
from gateway.logs import REQUEST_ID_HEADER, bind_request_id, request_id_for, unbind_request_id
from gateway.metrics import child, collectors
from gateway.redact import PRE_REDACTED, redact
from gateway.upstream.client import UPSTREAM

_LINE = (
    '%(remote)s %(user)s "%(method)s %(path)s" %(status)s in=%(bytes_in)s '
    "out=%(bytes_out)s %(duration).3fs route=%(route)s experiment=%(experiment)s "
    "destination=%(destination)s source=%(source)s"
)
CLIENT_GONE = "499"  # the client went away (or the drain cancelled it) before an answer


def route_label(request: web.Request) -> str:
    """The matched resource's template; never the raw path (unbounded, and it names artifacts)."""
    match = request.match_info
    if match.http_exception is None and match.route.resource is not None:
        return match.route.resource.canonical
    return "passthrough" if UPSTREAM in request.app else "unmatched"


def method_label(request: web.Request) -> str:
    return request.method if request.method in METHODS else "other"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    observed = Observed(request_id, time.perf_counter(), route_label(request))
    request[OBSERVED] = observed
    drain = request.app[DRAIN]
    drain.track(asyncio.current_task())
    token = bind_request_id(request_id)
    status = CLIENT_GONE
    try:
        response = await handler(request)
        status = str(response.status)
        if drain.draining and not response.prepared:
            response.force_close()  # keep-alive clients reconnect elsewhere
        return response
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    except Exception:
        status = "500"
        raise
    finally:
        unbind_request_id(token)
        method, metrics = method_label(request), collectors()
        child(metrics.requests, observed.route, method, status).inc()
        elapsed = time.perf_counter() - observed.started
        child(metrics.duration, observed.route, method).observe(elapsed)


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the client gets the ID its request was logged under."""
    if (observed := request.get(OBSERVED)) is not None:
        response.headers[REQUEST_ID_HEADER] = observed.request_id


class AccessLogger(AbstractAccessLogger):
    """One line per request, with every field also as a JSON field (`--log-format json`)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        observed = request.get(OBSERVED)
        user = known_user(request)  # type: ignore[arg-type]
        # Without `observed` the request never reached the application (aiohttp answered a
        # request it could not parse): it has no app, so no trusted proxies to ask.
        remote = client_address(request) if observed else request.remote  # type: ignore[arg-type]
        fields = {
            "request_id": observed.request_id if observed else "-",
            "remote": remote or "-",
            "user": user.name if user else "-",
            "source": user.identity.source if user else "-",
            "method": request.method,
            "route": observed.route if observed else "unmatched",
            # The one value that may carry a secret (a signed query string); the rest are
            # addresses, templates, names from the configuration or identity, and numbers.
            "path": redact(request.path_qs),
            "experiment": (observed.experiment if observed else "") or "-",
            "destination": (observed.destination if observed else "") or "-",
            "status": response.status,
            "bytes_in": request.content.total_bytes,
            "bytes_out": response.body_length,
            "duration": round(time, 6),
            PRE_REDACTED: True,
        }
        self.logger.info(_LINE % fields, extra=fields)  # formatted once, no args to format again
