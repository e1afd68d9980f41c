"""MLflow's multipart download: `presigned/<path>` hands out a signed, Range-capable URL.

The stock client then fetches byte ranges of that URL in parallel. The URL points back at the
gateway (or, with `multipart.direct`, at the bucket), so clients need no bucket access.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidParameter, MultipartUnsupported
from gateway.http.access import DESTINATIONS, Action, store_for
from gateway.http.files import serve_file
from gateway.http.routes.artifacts import PREFIXES, url_path
from gateway.http.routes.multipart import MULTIPART
from gateway.links.urls import DOWNLOAD_ROUTE, LINKS
from gateway.stores.capabilities import RangedDownloads, StoragePresigning

PRESIGNED_ROUTE = "/mlflow-artifacts/presigned"


def _file_path(request: web.Request, route: str) -> str:
    path, trailing_slash = url_path(request, route)
    if not path or trailing_slash:
        raise InvalidParameter(f"Name a file, not a directory: '{path}/'")
    return path


async def presigned(request: web.Request) -> web.Response:
    path = _file_path(request, PRESIGNED_ROUTE)
    store = store_for(request, path, Action.READ)
    if not isinstance(store, RangedDownloads):
        raise MultipartUnsupported("download")
    config, links = request.app[MULTIPART], request.app[LINKS]
    stat = await store.stat(path)
    direct = config.direct and isinstance(store, StoragePresigning)
    url = await store.presign_download(path, config.url_ttl) if direct else None
    url = url or links.download_url(links.base(request), path)
    return web.json_response({"url": url, "headers": {}, "file_size": stat.size})


async def signed_download(request: web.Request) -> web.StreamResponse:
    """Authorised by the URL's signature alone; Range, ETag and conditionals as on artifacts."""
    path = _file_path(request, DOWNLOAD_ROUTE)
    request.app[LINKS].signer.verify(("download", path), request.query)
    store = request.app[DESTINATIONS].for_path(path)
    return await serve_file(request, store, path)


def add_routes(app: web.Application) -> None:
    for prefix in PREFIXES:
        base = prefix.removesuffix("/mlflow-artifacts")
        app.router.add_get(f"{base}{PRESIGNED_ROUTE}/{{path:.*}}", presigned, allow_head=False)
        app.router.add_route("GET", f"{base}{DOWNLOAD_ROUTE}/{{path:.*}}", signed_download)
        app.router.add_route("HEAD", f"{base}{DOWNLOAD_ROUTE}/{{path:.*}}", signed_download)
