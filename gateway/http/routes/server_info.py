"""`/server-info`: the tracking server's answer, with the artifact fields the gateway can back.

MLflow clients probe it on the artifact host to decide on multipart transfers, and the UI reads it
at start-up; the artifact fields must describe the gateway, which moves the bytes. Like MLflow's
own basic-auth server, it needs no login; a caller the passthrough would refuse gets the gateway's
own payload, and the tracking server is not asked on its behalf.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from gateway.auth.policy import may_reach_upstream
from gateway.errors import ApiError
from gateway.http.capabilities import artifact_capabilities
from gateway.http.guard import Identified, add
from gateway.upstream.client import UPSTREAM

log = logging.getLogger(__name__)

PATHS = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")


def artifacts_only_payload() -> dict[str, Any]:
    """What the gateway says for itself: no tracking store, no tracking-side upload contracts."""
    return {
        "store_type": None,
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


async def server_info(request: web.Request) -> web.Response:
    payload = artifacts_only_payload()
    upstream = request.app.get(UPSTREAM)
    if upstream is not None and may_reach_upstream(request):
        try:
            payload = await upstream.get_json(request, PATHS[0], {})
        except ApiError as exc:
            # Artifact clients only need the capability fields: answer them even without upstream.
            log.warning("server-info from the tracking server failed: %s", exc.message)
    return web.json_response(payload | artifact_capabilities(request.app))


def add_routes(app: web.Application) -> None:
    for path in PATHS:
        add(app, ("GET", "HEAD"), path, server_info, Identified())
