"""MLflow's proxied multipart upload: `mpu/create|complete|abort`, and the signed part PUT.

`mlflow server` answers `mpu/create` with presigned bucket URLs, so every client must reach the
bucket. The gateway answers with signed URLs to itself and streams each part to the store, so
the bucket credentials stay here. No state is kept between requests: any replica serves any part.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.errors import InvalidParameter, MultipartUnsupported
from gateway.http.access import DESTINATIONS, Action, store_for, url_path
from gateway.http.guard import Artifact, Signed, add
from gateway.http.request_stats import note_target, uploading
from gateway.http.routes.multipart_bodies import (
    AbortRequest,
    Body,
    CompleteRequest,
    CreateRequest,
    ordered_parts,
    read_body,
    target_path,
)
from gateway.http.routes.refusals import refuse_proxied, refuse_skill_mutation
from gateway.http.routes.shared import ARTIFACT_PREFIXES, MULTIPART
from gateway.links.signing import Fields
from gateway.links.urls import LINKS, PART_ROUTE
from gateway.metrics import collectors
from gateway.stores import ArtifactStore
from gateway.stores.capabilities import MAX_PARTS, MultipartUploads, StoragePresigning
from gateway.stores.digests import checked
from gateway.stores.errors import StoreError
from gateway.stores.write_once import refuse_overwrite
from gateway.tenancy import key_of

_ROUTES = {name: f"/mlflow-artifacts/mpu/{name}" for name in ("create", "complete", "abort")}


async def _target(request: web.Request, model: type[Body]) -> tuple[Body, str]:
    """The body and the file it names; skill content refused by the URL (before the body is
    read) and by the file, as 3.18 checks both."""
    directory, _ = url_path(request)
    refuse_skill_mutation(directory)
    body = await read_body(request, model)
    path = target_path(directory, body.path)
    refuse_skill_mutation(path)
    return body, path


def _uploads(store: ArtifactStore) -> MultipartUploads:
    """MLflow's 501, on which its client falls back to single requests."""
    if not isinstance(store, MultipartUploads):
        raise MultipartUnsupported("upload")
    return store


async def create(request: web.Request) -> web.Response:
    body, path = await _target(request, CreateRequest)
    store = _uploads(await store_for(request, path, Action.WRITE))
    config, links = request.app[MULTIPART], request.app[LINKS]
    base = links.base(request)
    direct = (config.direct or store.presigned_only) and isinstance(store, StoragePresigning)
    upload_id = await store.create_upload(path)
    collectors().multipart.labels("created").inc()
    try:
        credentials = await part_credentials(
            store if direct else None,
            path,
            upload_id,
            body.parts,
            config.url_ttl,
            lambda number: links.part_url(base, path, upload_id, number),
        )
    except Exception:
        with contextlib.suppress(StoreError):  # the cleanup pass is the backstop
            await store.abort_upload(path, upload_id)
        raise
    return web.json_response({"upload_id": upload_id, "credentials": credentials})


async def part_credentials(
    signer: ArtifactStore | None,
    path: str,
    upload_id: str,
    parts: int,
    url_ttl: int,
    part_link: Callable[[int], str],
) -> list[dict[str, Any]]:
    """One URL per part: the storage's own when `signer` presigns, else the gateway's link.

    Signing never suspends (botocore signs in memory), so the loop yields to the event loop
    after each part: a 10,000-part create (`MAX_PARTS`) must not hold up every other request.
    """
    credentials = []
    for number in range(1, parts + 1):
        url = None
        if isinstance(signer, StoragePresigning):
            url = await signer.presign_part(path, upload_id, number, url_ttl)
        credentials.append({"url": url or part_link(number), "part_number": number, "headers": {}})
        await asyncio.sleep(0)
    return credentials


async def complete(request: web.Request) -> web.Response:
    body, path = await _target(request, CompleteRequest)
    store = _uploads(await store_for(request, path, Action.WRITE))
    stored = await store.list_parts(path, body.upload_id)
    await refuse_overwrite(store, path)  # a store without a conditional completion: a look
    ordered = ordered_parts(body.parts, stored, store.parts_without_etags)
    await store.complete_upload(path, body.upload_id, ordered)
    collectors().multipart.labels("completed").inc()
    return web.json_response({})


async def abort(request: web.Request) -> web.Response:
    body, path = await _target(request, AbortRequest)
    await _uploads(await store_for(request, path, Action.WRITE)).abort_upload(path, body.upload_id)
    collectors().multipart.labels("aborted").inc()
    return web.json_response({})


def _part_number(raw: str | None) -> int:
    try:
        number = int(raw or "")
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PARTS:
        raise InvalidParameter(f"part_number must be an integer from 1 to {MAX_PARTS}")
    return number


def _part(request: web.Request) -> tuple[str, str, int]:
    """The file, the upload id and the part number a part URL names."""
    path, _ = url_path(request, scoped=False)
    if not path:
        raise InvalidParameter("A part URL names the file being uploaded")
    number = _part_number(request.query.get("part_number"))
    return path, request.query.get("upload_id", ""), number


def part_fields(request: web.Request) -> Fields:
    """What a part link signs: everything it names, all taken from the URL."""
    return ("part", *_part(request))


async def put_part(request: web.Request) -> web.Response:
    """Authorised by the URL's signature alone (the `Signed` rule, before the body is read)."""
    path, upload_id, number = _part(request)
    size = request.content_length
    if size is None:
        raise web.HTTPLengthRequired(reason="A part upload needs a Content-Length header")
    limit = request.app[MULTIPART].max_part_size
    if size > limit:
        raise web.HTTPRequestEntityTooLarge(
            limit, size, reason=f"Part {number} has {size} bytes; parts may have at most {limit}"
        )
    store = _uploads(refuse_proxied(request.app[DESTINATIONS].for_path(path), "upload"))
    note_target(request, store.name, key_of(path).experiment)
    with uploading(request, store.name):
        body = checked(request.content, request.headers, size=size)  # a part's own digests
        etag = await store.upload_part(path, upload_id, number, body, size)
    return web.Response(headers={"ETag": etag})


def add_routes(app: web.Application) -> None:
    """The URL's directory names the experiment, so callers are refused before the body."""
    write = Artifact(Action.WRITE)
    for prefix in ARTIFACT_PREFIXES:
        base = prefix.removesuffix("/mlflow-artifacts")
        for name, handler in (("create", create), ("complete", complete), ("abort", abort)):
            add(app, "POST", f"{base}{_ROUTES[name]}/{{path:.*}}", handler, write)
        add(app, "PUT", f"{base}{PART_ROUTE}/{{path:.*}}", put_part, Signed(part_fields))
