"""Where the tracking server keeps a run's, model version's or logged model's artifacts, and
whether that location is one of the gateway's own.

Each lookup asks the tracking server as the caller, so the tracking server's permissions apply;
the tracking routes answered here (`tracking_artifacts`, `tracking_presigned`) share them.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from gateway.errors import PermissionDenied, UpstreamError
from gateway.forwarded import client_host
from gateway.http.workspaces import resolved
from gateway.tenancy import scoped_path
from gateway.upstream.client import UPSTREAM
from gateway.upstream.proxied_roots import destination_path, join


def field(body: dict[str, Any], *keys: str) -> str:
    """A string nested in the tracking server's answer; its absence is the upstream's fault."""
    value: Any = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str):
        raise UpstreamError(f"Tracking server answer has no {'.'.join(keys)}")
    return value


async def run_location(request: web.Request, run_id: str) -> str:
    """MLflow's `runs/get`: the run's `artifact_uri`."""
    body = await request.app[UPSTREAM].get_json(
        request, "/api/2.0/mlflow/runs/get", {"run_id": run_id}
    )
    return field(body, "run", "info", "artifact_uri")


async def model_version_location(request: web.Request, name: str, version: str) -> str:
    """MLflow's `model-versions/get-download-uri`: the version's `artifact_uri`."""
    params = {"name": name, "version": version}
    body = await request.app[UPSTREAM].get_json(
        request, "/api/2.0/mlflow/model-versions/get-download-uri", params
    )
    return field(body, "artifact_uri")


async def logged_model_location(request: web.Request, model_id: str) -> str:
    """MLflow's `logged-models/<id>`: the model's `artifact_uri`."""
    quoted = urllib.parse.quote(model_id, safe="")
    body = await request.app[UPSTREAM].get_json(
        request, f"/api/2.0/mlflow/logged-models/{quoted}", {}
    )
    return field(body, "model", "info", "artifact_uri")


def gateway_path(request: web.Request, location: str, relative: str) -> str | None:
    """The stored path of `relative` under `location` (scoped to the request's workspace, as
    MLflow's tracking artifact handlers scope proxied paths), or None when it is not the
    gateway's location.

    Own hosts: the configured `gateway_hosts`, the `Host` of this hop and, behind a trusted
    proxy, the client's (`X-Forwarded-Host`), which is what a client put in its tracking URI.
    """
    upstream = request.app[UPSTREAM]
    seen = (client_host(request), request.headers.get("Host"))
    own_hosts = {h.lower() for h in (*seen, *upstream.options.gateway_hosts) if h}
    root = destination_path(location, own_hosts)
    return None if root is None else scoped_path(join(root, relative), resolved(request))


def refuse_local(request: web.Request, location: str) -> None:
    """403 for a location on the tracking server's own disk (`file:`, a plain path, a Windows
    drive) unless `upstream.allow_local_locations`: any user may create an experiment whose
    location is inside another's files, which the tracking server would then read and write."""
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    local = scheme in ("", "file") or len(scheme) == 1
    if local and not request.app[UPSTREAM].options.allow_local_locations:
        raise PermissionDenied(
            "Artifact locations on the tracking server's disk (file: or a path) are not served "
            "through this gateway"
        )
