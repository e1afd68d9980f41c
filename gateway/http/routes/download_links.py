"""MLflow's multipart download: `presigned/<path>` hands out a signed, Range-capable URL.

The stock client then fetches byte ranges of that URL in parallel. The URL points back at the
gateway (or, with `multipart.direct`, at the bucket), so clients need no bucket access.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidParameter
from gateway.http.access import DESTINATIONS, Action, store_for, url_path
from gateway.http.files import serve_file
from gateway.http.guard import Artifact, Signed, add
from gateway.http.request_stats import note_target
from gateway.http.routes.refusals import refuse_proxied
from gateway.http.routes.shared import ARTIFACT_PREFIXES, download_link
from gateway.links.signing import Fields
from gateway.links.urls import DOWNLOAD_ROUTE
from gateway.tenancy import key_of

PRESIGNED_ROUTE = "/mlflow-artifacts/presigned"


def _file_path(request: web.Request, *, scoped: bool = True) -> str:
    path, trailing_slash = url_path(request, scoped=scoped)
    if not path or trailing_slash:
        raise InvalidParameter(f"Name a file, not a directory: '{path}/'")
    return path


async def presigned(request: web.Request) -> web.Response:
    path = _file_path(request)
    return await download_link(request, await store_for(request, path, Action.READ), path)


def download_fields(request: web.Request) -> Fields:
    """What a download link signs: the file (and the expiry, as every link)."""
    return ("download", _file_path(request, scoped=False))


async def signed_download(request: web.Request) -> web.StreamResponse:
    """Authorised by the URL's signature alone (the `Signed` rule); Range, ETag and conditionals
    as on artifacts."""
    path = _file_path(request, scoped=False)
    store = refuse_proxied(request.app[DESTINATIONS].for_path(path), "download")
    note_target(request, store.name, key_of(path).experiment)
    return await serve_file(request, store, path)


def add_routes(app: web.Application) -> None:
    for prefix in ARTIFACT_PREFIXES:
        base = prefix.removesuffix("/mlflow-artifacts")
        add(app, "GET", f"{base}{PRESIGNED_ROUTE}/{{path:.*}}", presigned, Artifact(Action.READ))
        signed = Signed(download_fields)
        add(app, ("GET", "HEAD"), f"{base}{DOWNLOAD_ROUTE}/{{path:.*}}", signed_download, signed)
