"""MLflow's artifact REST API: route -> path safety -> experiment mapping -> store."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.errors import InvalidParameter
from gateway.http.access import Action, query_path, store_for, url_path
from gateway.http.errors import store_answer
from gateway.http.files import serve_file
from gateway.http.guard import Artifact, add
from gateway.http.request_stats import uploading
from gateway.http.routes.refusals import refuse_proxied, refuse_skill_mutation
from gateway.http.routes.shared import ARTIFACT_PREFIXES, file_infos
from gateway.stores import Entry
from gateway.stores.digests import checked
from gateway.stores.errors import StoreError
from gateway.stores.write_once import refuse_delete, refuse_overwrite


async def upload(request: web.Request) -> web.Response:
    path, trailing_slash = url_path(request)
    if not path or trailing_slash:
        raise InvalidParameter(f"Cannot upload to a directory path '{path}/': name a file")
    store = refuse_proxied(await store_for(request, path, Action.WRITE), "upload")
    refuse_skill_mutation(path)
    await refuse_overwrite(store, path)  # 409 before the body, for a write-once file
    with uploading(request, store.name):
        body = checked(request.content, request.headers)  # the client's digests, if any
        await store.write(path, body, request.content_length)
    return web.json_response({})


async def download(request: web.Request) -> web.StreamResponse:
    path, _ = url_path(request)
    if not path:
        return await list_artifacts(request)
    store = refuse_proxied(await store_for(request, path, Action.READ), "download")
    return await serve_file(request, store, path)


def _json_rows(entries: list[Entry]) -> bytes:
    """The FileInfo objects of one batch, comma-separated as inside a JSON array."""
    return json.dumps(file_infos(entries))[1:-1].encode()


async def list_artifacts(request: web.Request) -> web.StreamResponse:
    """MLflow's shape: names relative to the listed directory, sorted, `{}` when empty.

    Streamed a batch (one backend page) at a time, so a directory of 100,000 entries is never
    built in memory. A store error before the first batch is the usual JSON error; after it the
    status is sent, so the error is logged and the connection cut: the client sees a truncated
    body, never a well-formed partial listing.
    """
    path = query_path(request)
    batches = (await store_for(request, path, Action.READ)).list_batches(path)
    first: list[Entry] = []
    async for batch in batches:  # a batch may be empty while its names wait for the next page
        if batch:
            first = batch
            break
    if not first:
        return web.json_response({})
    response = web.StreamResponse()
    response.content_type = "application/json"
    response.charset = "utf-8"
    await response.prepare(request)
    try:
        await response.write(b'{"files": [' + _json_rows(first))
        async for batch in batches:
            if batch:
                await response.write(b", " + _json_rows(batch))
    except StoreError as exc:
        store_answer(request, exc)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write(b"]}")
    return response


async def delete(request: web.Request) -> web.Response:
    path, _ = url_path(request)
    if not path:
        raise InvalidParameter("Refusing to delete the root of a destination: name a path")
    refuse_skill_mutation(path)
    store = await store_for(request, path, Action.DELETE)
    await refuse_delete(store, path)  # 409 for a write-once file
    await store.delete(path)
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    read = Artifact(Action.READ, listing=True)
    for prefix in ARTIFACT_PREFIXES:
        base = f"{prefix}/artifacts"
        add(app, "GET", base, list_artifacts, read)
        add(app, ("GET", "HEAD"), base + "/{path:.*}", download, read)
        add(app, "PUT", base + "/{path:.*}", upload, Artifact(Action.WRITE))
        add(app, "DELETE", base + "/{path:.*}", delete, Artifact(Action.DELETE))
