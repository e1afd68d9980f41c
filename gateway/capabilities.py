"""What the gateway itself can do with artifacts, as `/server-info` advertises it to clients."""

from __future__ import annotations

from aiohttp import web

from gateway.access import DESTINATIONS

MULTIPART_UPLOADS = "multipart_uploads_enabled"
MULTIPART_DOWNLOADS = "multipart_downloads_enabled"


def artifact_capabilities(app: web.Application) -> dict[str, bool]:
    """MLflow clients switch to parallel part uploads / ranged downloads when these are true.

    A client asks once per server, so a capability holds only if every destination has it.
    """
    stores = app[DESTINATIONS].all()
    return {
        MULTIPART_UPLOADS: all(store.multipart_uploads for store in stores),
        MULTIPART_DOWNLOADS: all(store.multipart_downloads for store in stores),
    }
