"""Serves one stored file with careful HTTP semantics: Range, ETag, conditional requests."""

from __future__ import annotations

import asyncio
import email.utils
import logging
from datetime import datetime

from aiohttp import web

from gateway import mime
from gateway.http import splice
from gateway.http.aiohttp_internals import ETAG_ANY, ETag
from gateway.http.errors import error_json
from gateway.http.request_stats import Sent, downloading
from gateway.http.timeouts import SendStalled, send_within
from gateway.stores import ArtifactStore, Download, FileStat, budget
from gateway.stores.capabilities import SocketDownload, SocketDownloads
from gateway.stores.digests import repr_digest
from gateway.stores.errors import RangeNotSatisfiable
from gateway.stores.ranges import ByteRange

log = logging.getLogger(__name__)


def _http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _matches(tags: tuple[ETag, ...], etag: str, *, weak_ok: bool) -> bool:
    value = etag.strip('"')
    return any(
        t.value == ETAG_ANY or (t.value == value and (weak_ok or not t.is_weak)) for t in tags
    )


def _precondition(request: web.Request, stat: FileStat) -> int | None:
    """RFC 9110 13.2.2 order: 412 for If-Match/If-Unmodified-Since, 304 for the others."""
    modified = _seconds(stat.last_modified)
    if (if_match := request.if_match) is not None:
        if not _matches(if_match, stat.etag, weak_ok=False):
            return 412
    elif (since := request.if_unmodified_since) is not None and modified > _seconds(since):
        return 412
    if (if_none_match := request.if_none_match) is not None:
        if _matches(if_none_match, stat.etag, weak_ok=True):
            return 304
    elif (since := request.if_modified_since) is not None and modified <= _seconds(since):
        return 304
    return None


def _if_range_holds(request: web.Request, stat: FileStat) -> bool:
    """A Range counts only while If-Range (an ETag or a date) still names this version."""
    raw = request.headers.get("If-Range")
    if raw is None:
        return True
    if raw.startswith(('"', "W/")):
        return raw == stat.etag
    since = request.if_range
    return since is not None and _seconds(stat.last_modified) <= _seconds(since)


def _requested_range(request: web.Request) -> ByteRange | None:
    """A malformed or multi-range header is ignored, as RFC 9110 allows: the whole file is sent."""
    try:
        return ByteRange.from_slice(request.http_range)
    except ValueError:
        return None


def _headers(path: str, stat: FileStat) -> dict[str, str]:
    headers = {
        "Content-Type": mime.content_type(path),
        "Content-Disposition": mime.content_disposition(path),
        "X-Content-Type-Options": "nosniff",
        "ETag": stat.etag,
        "Last-Modified": _http_date(stat.last_modified),
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",
    }
    if stat.sha256 is not None:  # RFC 9530 3: the whole representation's, on 206 too
        headers["Repr-Digest"] = repr_digest(stat.sha256)
    return headers


def _not_modified(status: int, path: str, stat: FileStat) -> web.Response:
    if status == 304:
        headers = _headers(path, stat)
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    return error_json(412, "INVALID_PARAMETER_VALUE", "Precondition failed")


def _unsatisfiable(size: int) -> web.Response:
    response = error_json(416, "INVALID_PARAMETER_VALUE", f"Range not satisfiable: {size} bytes")
    response.headers["Content-Range"] = f"bytes */{size}"
    return response


async def head_file(request: web.Request, store: ArtifactStore, path: str) -> web.StreamResponse:
    stat = await store.stat(path)
    if (status := _precondition(request, stat)) is not None:
        return _not_modified(status, path, stat)
    response = web.StreamResponse(headers=_headers(path, stat))
    response.content_length = stat.size
    return response


async def serve_file(request: web.Request, store: ArtifactStore, path: str) -> web.StreamResponse:
    """GET or HEAD of one file, as every route that serves a file answers it."""
    if request.method == "HEAD":
        return await head_file(request, store, path)
    return await get_file(request, store, path)


async def get_file(request: web.Request, store: ArtifactStore, path: str) -> web.StreamResponse:
    byte_range = _requested_range(request)
    try:
        download = await _open(request, store, path, byte_range)
    except RangeNotSatisfiable as exc:
        if "If-Range" not in request.headers:
            return _unsatisfiable(exc.size)
        download = await store.open(path, None)
        if _if_range_holds(request, download.stat):
            await download.close()
            return _unsatisfiable(exc.size)
        byte_range = None
    if byte_range is not None and not _if_range_holds(request, download.stat):
        await download.close()
        download, byte_range = await store.open(path, None), None
    async with download:
        if (status := _precondition(request, download.stat)) is not None:
            return _not_modified(status, path, download.stat)
        partial = byte_range is not None
        return await _stream(request, store.name, path, download, partial=partial)


async def _open(
    request: web.Request, store: ArtifactStore, path: str, byte_range: ByteRange | None
) -> Download:
    """A socket to splice from where both ends allow it; the store's normal read otherwise."""
    download = None
    if isinstance(store, SocketDownloads) and splice.usable(request):
        download = await store.open_socket(path, byte_range)
    return download or await store.open(path, byte_range)


async def _stream(
    request: web.Request, destination: str, path: str, download: Download, *, partial: bool
) -> web.StreamResponse:
    stat = download.stat
    response = web.StreamResponse(status=206 if partial else 200, headers=_headers(path, stat))
    if partial:
        response.headers["Content-Range"] = (
            f"bytes {download.start}-{download.stop - 1}/{stat.size}"
        )
    response.content_length = download.stop - download.start
    await response.prepare(request)
    try:
        with downloading(destination) as sent:
            if isinstance(download, SocketDownload):
                await splice.send(request, response, download, sent)
            else:
                await _send_chunks(request, response, download, sent)
    except ConnectionResetError:
        log.debug("client went away during %s", path)
    except SendStalled as exc:
        log.info("download of %s cut off: %s", path, exc)
        response.force_close()
        if request.transport is not None:
            request.transport.abort()  # close() would wait to flush to a client not reading
    except Exception as exc:
        # Headers are out; closing the connection is the only honest signal left.
        where = getattr(exc, "destination", "") or "?"
        log.warning("download of %s from destination %s failed mid-stream: %r", path, where, exc)
        response.force_close()
        if request.transport is not None:
            request.transport.close()
    return response


async def _send_chunks(
    request: web.Request, response: web.StreamResponse, download: Download, sent: Sent
) -> None:
    """Each chunk's bytes are reserved before the backend is read and returned once the client
    has taken them, so many slow readers wait for budget instead of piling chunks up; a client
    that reads below the rate floor is cut off (`send_within`), so it holds a chunk no longer."""
    shared, size = budget.current(), download.chunk_size
    chunks = aiter(download.chunks())
    started = asyncio.get_running_loop().time()
    while True:
        async with shared.hold(size):
            chunk = await anext(chunks, None)
            if chunk is None:
                return
            await send_within(request, response.write(chunk), started, sent.bytes + len(chunk))
            sent.bytes += len(chunk)
            del chunk
