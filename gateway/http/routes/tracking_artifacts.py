"""Tracking routes that read artifact bytes, answered here when the location is the gateway's.

A tracking server started with `--no-serve-artifacts` cannot read `mlflow-artifacts:` locations
and fails these routes, which breaks the UI's artifact browser. The gateway asks the tracking
server for the location (as the caller, so the tracking server's permissions apply), serves the
gateway's own locations through `store_for`, and passes any other location through unchanged.
Their `Tracking` rule refuses callers the passthrough would refuse before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import paths
from gateway.errors import InvalidParameter
from gateway.http.access import Action, store_for
from gateway.http.bodies import CappedBody
from gateway.http.files import serve_file
from gateway.http.guard import Tracking, add
from gateway.http.request_stats import uploading
from gateway.http.routes.passthrough import forward
from gateway.http.routes.refusals import refuse_proxied
from gateway.http.routes.shared import download_link, file_infos
from gateway.http.routes.tracking_locations import (
    gateway_path,
    logged_model_location,
    model_version_location,
    refuse_local,
    run_location,
)
from gateway.stores.body_reads import READ_PIECE, Prefetched
from gateway.stores.digests import checked
from gateway.stores.write_once import refuse_overwrite
from gateway.upstream.client import UPSTREAM

Lookup = Callable[[web.Request], Awaitable[str]]


def _required(request: web.Request, *names: str) -> str:
    for name in names:
        if value := request.query.get(name):
            return value
    raise InvalidParameter(f"Missing value for required parameter '{names[0]}'")


async def _run(request: web.Request) -> str:
    if not (run_id := request.query.get("run_id") or request.query.get("run_uuid")):
        raise InvalidParameter("Request must specify run_id or run_uuid.")
    return await run_location(request, run_id)


async def _model_version(request: web.Request) -> str:
    name, version = _required(request, "name"), _required(request, "version")
    return await model_version_location(request, name, version)


async def _logged_model(request: web.Request) -> str:
    return await logged_model_location(request, request.match_info["model_id"])


async def _resolve(request: web.Request, lookup: Lookup, relative: str) -> tuple[str, str] | None:
    """(location, destination path), or None when the location is not the gateway's."""
    location = await lookup(request)
    path = gateway_path(request, location, relative)
    if path is None:
        refuse_local(request, location)
        return None
    return location, path


def listing(lookup: Lookup, param: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """MLflow's ListArtifacts answer: `root_uri`, and `files` named relative to the location."""

    async def handler(request: web.Request) -> web.StreamResponse:
        relative = paths.normalize(request.query.get(param, ""))
        resolved = await _resolve(request, lookup, relative)
        if resolved is None:
            return await forward(request, request.app[UPSTREAM])
        location, path = resolved
        store = await store_for(request, path, Action.READ)
        files = file_infos(await store.list(path), relative)
        return web.json_response({"root_uri": location} | ({"files": files} if files else {}))

    return handler


def download(lookup: Lookup, param: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """One file as an attachment, with the same headers as the artifacts route; with
    `presigned=true` (3.18's UI and client) a download link instead."""

    async def handler(request: web.Request) -> web.StreamResponse:
        relative = paths.normalize(request.query.get(param, ""), allow_empty=False)
        resolved = await _resolve(request, lookup, relative)
        if resolved is None:
            return await forward(request, request.app[UPSTREAM])
        _, path = resolved
        store = await store_for(request, path, Action.READ)
        if request.query.get("presigned", "false").lower() == "true":
            return await download_link(request, store, path)
        return await serve_file(request, refuse_proxied(store, "download"), path)

    return handler


UI_UPLOAD_LIMIT = 10 * 1024 * 1024  # MLflow's own limit for this route


def _too_large(size: int) -> InvalidParameter:
    return InvalidParameter("Artifact size is too large. Max size is 10MB.")


async def upload(request: web.Request) -> web.StreamResponse:
    """The UI's `upload-artifact` (at most 10 MB, as MLflow), stored through `store_for`."""
    relative = paths.normalize(_required(request, "path"), allow_empty=False)
    resolved = await _resolve(request, _run, relative)
    if resolved is None:
        return await forward(request, request.app[UPSTREAM])
    _, path = resolved
    store = refuse_proxied(await store_for(request, path, Action.WRITE), "upload")
    await refuse_overwrite(store, path)  # 409 before the body, for a write-once file
    # Streamed to the store under the memory budget, as every upload: buffering 10 MB per
    # request outside it let a few dozen requests exceed the container's memory (issue 23).
    capped = CappedBody(request, UI_UPLOAD_LIMIT, _too_large)
    if not (first := await capped.read(READ_PIECE)):
        raise InvalidParameter("Request must specify data.")
    with uploading(request, store.name):
        body = checked(Prefetched(capped, first), request.headers)
        await store.write(path, body, request.content_length)
    return web.Response(content_type="application/json")


def add_routes(app: web.Application) -> None:
    """MLflow 3.17's routes, plus the ajax forms of the two file routes that the UI requests."""
    run_list, versions = listing(_run, "path"), download(_model_version, "path")
    logged = listing(_logged_model, "artifact_directory_path")
    reads: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        reads[f"{prefix}/artifacts/list"] = run_list
        reads[f"{prefix}/logged-models/{{model_id}}/artifacts/directories"] = logged
    for prefix in ("", "/ajax-api/2.0/mlflow"):
        reads[f"{prefix}/get-artifact"] = download(_run, "path")
        reads[f"{prefix}/model-versions/get-artifact"] = versions
    reads["/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files"] = download(
        _logged_model, "artifact_file_path"
    )
    for path, handler in reads.items():
        add(app, ("GET", "HEAD"), path, handler, Tracking())
    add(app, "POST", "/ajax-api/2.0/mlflow/upload-artifact", upload, Tracking())
