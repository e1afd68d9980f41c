"""`/server-info`: the tracking server's answer, with the artifact fields the gateway can back.

MLflow clients probe it on the artifact host to decide on multipart and presigned transfers
(3.18: with a 3 s timeout and no retry, for `http(s)` artifact URIs too), and the UI reads it at
start-up; the artifact fields must describe the gateway, which moves the bytes. So the tracking
server gets `LOOKUP_TIMEOUT` to answer, its last answer is reused for `CACHE_SECONDS`, and
without one the gateway's own payload is answered. Like MLflow's own basic-auth server, it needs
no login; a caller the passthrough would refuse gets the gateway's own payload, and the tracking
server is not asked on its behalf.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.auth.policy import may_reach_upstream
from gateway.errors import ApiError
from gateway.http.advertised import artifact_capabilities
from gateway.http.guard import Identified, add
from gateway.upstream.client import UPSTREAM

log = logging.getLogger(__name__)

PATHS = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")
LOOKUP_TIMEOUT = 1.0  # well inside the 3.18 client's 3 s, so a slow upstream costs no probe
CACHE_SECONDS = 30.0  # the same for every caller (MLflow serves it without login)


@dataclass
class _Cached:
    payload: dict[str, Any] | None = None
    expires: float = 0.0


_CACHE = web.AppKey("server_info_cache", _Cached)


def artifacts_only_payload() -> dict[str, Any]:
    """What the gateway says for itself: no tracking store, no tracking-side upload contracts."""
    return {
        "store_type": None,
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
        "tracking_auth": "",
    }


async def _upstream_payload(request: web.Request) -> dict[str, Any] | None:
    """The tracking server's answer, cached; None when it fails or is slow."""
    cached, now = request.app[_CACHE], time.monotonic()
    if cached.payload is not None and now < cached.expires:
        return cached.payload
    try:
        lookup = request.app[UPSTREAM].get_json(request, PATHS[0], {})
        payload = await asyncio.wait_for(lookup, LOOKUP_TIMEOUT)
    except (ApiError, TimeoutError) as exc:
        # Artifact clients only need the capability fields: answer them even without upstream.
        why = exc.message if isinstance(exc, ApiError) else f"no answer in {LOOKUP_TIMEOUT} s"
        log.warning("server-info from the tracking server failed: %s", why)
        return cached.payload  # a stale answer describes the tracking server better than none
    cached.payload, cached.expires = payload, now + CACHE_SECONDS
    return payload


async def server_info(request: web.Request) -> web.Response:
    payload = None
    if request.app.get(UPSTREAM) is not None and may_reach_upstream(request):
        payload = await _upstream_payload(request)
    return web.json_response(
        (payload or artifacts_only_payload()) | artifact_capabilities(request.app)
    )


def add_routes(app: web.Application) -> None:
    app[_CACHE] = _Cached()
    for path in PATHS:
        add(app, ("GET", "HEAD"), path, server_info, Identified())
