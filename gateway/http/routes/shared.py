"""What several route modules use, kept here so that no route module imports another.

The artifact API's prefixes, the app key of the multipart settings, MLflow's FileInfo JSON, and
its answer to a presigned download request (`presigned/<path>`, and the tracking routes'
`presigned=true`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.config import Multipart
from gateway.errors import MultipartUnsupported
from gateway.links.urls import LINKS
from gateway.stores import ArtifactStore, Entry
from gateway.stores.capabilities import RangedDownloads, StoragePresigning

ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
MULTIPART = web.AppKey("multipart", Multipart)


def file_infos(entries: list[Entry], under: str = "") -> list[dict[str, object]]:
    """MLflow's FileInfo JSON: `path` is `under/<name>`, `file_size` for files only."""
    return [
        {"path": f"{under}/{e.name}" if under else e.name, "is_dir": e.is_dir}
        | ({} if e.is_dir else {"file_size": e.size})
        for e in entries
    ]


async def download_link(request: web.Request, store: ArtifactStore, path: str) -> web.Response:
    """MLflow's PresignedDownloadUrlResponse: a link signed by the gateway, or on the storage
    itself with `multipart.direct` or a presigned-only destination; 501 without ranged reads."""
    if not isinstance(store, RangedDownloads):
        raise MultipartUnsupported("download")
    config, links = request.app[MULTIPART], request.app[LINKS]
    stat = await store.stat(path)
    direct = (config.direct or store.presigned_only) and isinstance(store, StoragePresigning)
    url = await store.presign_download(path, config.url_ttl) if direct else None
    url = url or links.download_url(links.base(request), path)
    return web.json_response({"url": url, "headers": {}, "file_size": stat.size})
