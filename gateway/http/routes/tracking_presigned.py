"""MLflow's `artifacts/presigned-upload-url` and `presigned-download-url` for gateway locations.

MLflow answers them only for direct cloud locations (400 for `mlflow-artifacts:`), and the 3.18
UI uses them in presigned-only mode. The gateway answers them where it hands out storage URLs
itself (a presigned-only destination, or `multipart.direct`), after the same checks as every
artifact route (`store_for`); any other location, its own proxied ones included, goes to the
tracking server, whose answer stays MLflow's.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import paths
from gateway.errors import InvalidParameter
from gateway.http.access import Action, store_for
from gateway.http.bodies import read_within
from gateway.http.guard import Tracking, add
from gateway.http.routes.passthrough import forward
from gateway.http.routes.refusals import refuse_skill_mutation
from gateway.http.routes.shared import MULTIPART
from gateway.http.routes.tracking_locations import (
    gateway_path,
    logged_model_location,
    refuse_local,
    run_location,
)
from gateway.stores import ArtifactStore
from gateway.stores.capabilities import StoragePresigning
from gateway.upstream.client import UPSTREAM

BODY_LIMIT = 64 * 1024
MAX_EXPIRATION = 604800  # seven days: what S3 accepts, and MLflow's bound


def _too_large(size: int) -> InvalidParameter:
    return InvalidParameter(f"The request body exceeds {BODY_LIMIT} bytes")


async def _body(request: web.Request) -> tuple[bytes, dict[str, Any]]:
    """The raw body (passed on as it came) and its JSON object, at most BODY_LIMIT bytes."""
    data = await read_within(request, BODY_LIMIT, _too_large)
    try:
        body = json.loads(data or b"{}")
    except ValueError as exc:
        raise InvalidParameter("The request body must be JSON") from exc
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object")
    return data, body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name) or ""
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid value for parameter '{name}': must be a string")
    return value


def _expiration(request: web.Request, body: dict[str, Any], default: int) -> int:
    """The client's expiration, within MLflow's bounds, capped by `--multipart.url-ttl`: the
    operator's limit on how long any URL the gateway signs stays valid (a client's larger
    request is shortened rather than refused, as MLflow clients send their own defaults)."""
    value = body.get("expiration", default)
    try:
        seconds = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("Invalid value for parameter 'expiration'") from exc
    if not 1 <= seconds <= MAX_EXPIRATION:
        raise InvalidParameter(
            f"expiration must be between 1 and {MAX_EXPIRATION} seconds (got {seconds})."
        )
    return min(seconds, request.app[MULTIPART].url_ttl)


async def _location(request: web.Request, run_id: str, model_id: str) -> str:
    """The run's or logged model's artifact location, looked up as the caller."""
    location = await (
        run_location(request, run_id) if run_id else logged_model_location(request, model_id)
    )
    refuse_local(request, location)  # the tracking server refuses them too; the gateway first
    return location


async def _signing(request: web.Request, path: str | None, action: Action) -> ArtifactStore | None:
    """The store, when the gateway hands out its storage's own URLs for `path` (the caller's
    permission checked first)."""
    if path is None:
        return None
    store = await store_for(request, path, action)
    direct = store.presigned_only or request.app[MULTIPART].direct
    return store if direct and isinstance(store, StoragePresigning) else None


async def upload_url(request: web.Request) -> web.StreamResponse:
    data, body = await _body(request)
    run_id, model_id = _text(body, "run_id"), _text(body, "model_id")
    if bool(run_id) == bool(model_id):
        raise InvalidParameter("Exactly one of run_id and model_id must be provided.")
    relative = paths.normalize(_text(body, "path"), allow_empty=False)
    expiration = _expiration(request, body, 900)
    location = await _location(request, run_id, model_id)
    path = gateway_path(request, location, relative)
    store = await _signing(request, path, Action.WRITE)
    if path is None or not isinstance(store, StoragePresigning):
        return await forward(request, request.app[UPSTREAM], data)
    refuse_skill_mutation(path)
    url = await store.presign_upload(path, expiration)
    return web.json_response({"presigned_url": url, "headers": {}})


async def download_url(request: web.Request) -> web.StreamResponse:
    data, body = await _body(request)
    if not (run_id := _text(body, "run_id")):
        raise InvalidParameter("Missing value for required parameter 'run_id'.")
    relative = paths.normalize(_text(body, "path"), allow_empty=False)
    expiration = _expiration(request, body, request.app[MULTIPART].url_ttl)
    path = gateway_path(request, await _location(request, run_id, ""), relative)
    store = await _signing(request, path, Action.READ)
    if path is None or not isinstance(store, StoragePresigning):
        return await forward(request, request.app[UPSTREAM], data)
    size = (await store.stat(path)).size
    url = await store.presign_download(path, expiration)
    return web.json_response({"presigned_url": url, "headers": {}, "file_size": size})


def add_routes(app: web.Application) -> None:
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        base = f"{prefix}/artifacts"
        add(app, "POST", f"{base}/presigned-upload-url", upload_url, Tracking())
        add(app, "POST", f"{base}/presigned-download-url", download_url, Tracking())
