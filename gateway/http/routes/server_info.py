"""`/server-info`: the tracking server's answer, with the artifact fields the gateway can back.

MLflow clients probe it on the artifact host to decide on multipart and presigned transfers
(3.18: with a 3 s timeout and no retry, for `http(s)` artifact URIs too), and the UI reads it at
start-up; the artifact fields must describe the gateway, which moves the bytes. So the tracking
server gets `http.workspaces.PROBE_WAIT` to answer, its last answer is reused for
`CACHE_SECONDS` (the cache workspace resolution reads too), and
without one the gateway's own payload is answered. Like MLflow's own basic-auth server, it needs
no login; a caller the passthrough would refuse gets the gateway's own payload, and the tracking
server is not asked on its behalf.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.auth.policy import may_reach_upstream
from gateway.http.advertised import artifact_capabilities
from gateway.http.guard import Identified, add
from gateway.http.workspaces import PROBE_WAIT, WORKSPACES, tracking_server_info
from gateway.upstream.client import UPSTREAM

PATHS = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")


def artifacts_only_payload(workspaces_enabled: bool = False) -> dict[str, Any]:
    """What the gateway says for itself: no tracking store, no tracking-side upload contracts;
    `workspaces_enabled` as configured (deployment B)."""
    return {
        "store_type": None,
        "workspaces_enabled": workspaces_enabled,
        "trace_archival_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
        "tracking_auth": "",
    }


async def server_info(request: web.Request) -> web.Response:
    payload = None
    if request.app.get(UPSTREAM) is not None and may_reach_upstream(request):
        payload = await tracking_server_info(request, PROBE_WAIT)
    if payload is None:
        payload = artifacts_only_payload(bool(request.app[WORKSPACES].enabled))
    return web.json_response(payload | artifact_capabilities(request.app))


def add_routes(app: web.Application) -> None:
    for path in PATHS:
        add(app, ("GET", "HEAD"), path, server_info, Identified())
