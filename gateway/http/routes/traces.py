"""The UI's `get-trace-artifact`, answered here when the trace's data lies on the gateway.

MLflow's handler (3.17/3.18 `get_trace_artifact_handler`) reads the spans from the tracking
store when it holds them, else `traces.json` (or `attachments/<path>`) under the trace's
`mlflow.artifactLocation` tag; a `--no-serve-artifacts` server cannot read an
`mlflow-artifacts:` location. So the gateway looks the trace up as the caller, passes through
what the tracking server can answer itself, and serves the file for its own locations.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from gateway import paths
from gateway.errors import ApiError, UpstreamError
from gateway.http.access import Action, store_for
from gateway.http.files import serve_file
from gateway.http.guard import Tracking, add
from gateway.http.routes.passthrough import forward
from gateway.http.routes.tracking_locations import gateway_path
from gateway.upstream.client import UPSTREAM

TRACE_DATA_FILE = "traces.json"  # MLflow's TRACE_DATA_FILE_NAME
ARTIFACT_LOCATION = "mlflow.artifactLocation"
SPANS_LOCATION = "mlflow.trace.spansLocation"
SERVED_UPSTREAM = ("TRACKING_STORE", "ARCHIVE_REPO")  # spans the tracking server reads itself


class BadRequest(ApiError):
    error_code = "BAD_REQUEST"


async def _tags(request: web.Request, trace_id: str) -> dict[str, str]:
    quoted = urllib.parse.quote(trace_id, safe="")
    body = await request.app[UPSTREAM].get_json(request, f"/api/3.0/mlflow/traces/{quoted}", {})
    info = body.get("trace", {}).get("trace_info") if isinstance(body.get("trace"), dict) else None
    tags = info.get("tags") if isinstance(info, dict) else None
    if not isinstance(tags, dict):
        raise UpstreamError("Tracking server answer has no trace.trace_info.tags")
    return {str(k): str(v) for k, v in tags.items()}


async def trace_artifact(request: web.Request) -> web.StreamResponse:
    if not (trace_id := request.query.get("request_id")):
        raise BadRequest('Request must include the "request_id" query parameter.')
    attachment = request.query.get("path")
    relative = TRACE_DATA_FILE
    if attachment:
        relative = f"attachments/{paths.normalize(attachment, allow_empty=False)}"
    tags = await _tags(request, trace_id)
    location = tags.get(ARTIFACT_LOCATION)
    if (not attachment and tags.get(SPANS_LOCATION) in SERVED_UPSTREAM) or location is None:
        return await forward(request, request.app[UPSTREAM])
    path = gateway_path(request, location, relative)
    if path is None:
        return await forward(request, request.app[UPSTREAM])
    return await serve_file(request, await store_for(request, path, Action.READ), path)


def add_routes(app: web.Application) -> None:
    for version in ("2.0", "3.0"):
        path = f"/ajax-api/{version}/mlflow/get-trace-artifact"
        add(app, ("GET", "HEAD"), path, trace_artifact, Tracking())
