"""What the gateway itself can do with artifacts, as `/server-info` advertises it to clients."""

from __future__ import annotations

from aiohttp import web

from gateway.http.access import DESTINATIONS
from gateway.stores.capabilities import MultipartUploads, RangedDownloads

MULTIPART_UPLOADS = "multipart_uploads_enabled"
MULTIPART_DOWNLOADS = "multipart_downloads_enabled"


def artifact_capabilities(app: web.Application) -> dict[str, bool]:
    """MLflow clients switch to parallel part uploads / ranged downloads when these are true.

    A client asks once per server, so a capability holds only if every destination has it.
    """
    stores = app[DESTINATIONS].all()
    return {
        MULTIPART_UPLOADS: all(isinstance(store, MultipartUploads) for store in stores),
        MULTIPART_DOWNLOADS: all(isinstance(store, RangedDownloads) for store in stores),
    }
