"""What the gateway itself can do with artifacts, as `/server-info` advertises it to clients."""

from __future__ import annotations

from aiohttp import web

MULTIPART_UPLOADS = "multipart_uploads_enabled"
MULTIPART_DOWNLOADS = "multipart_downloads_enabled"


def artifact_capabilities(app: web.Application) -> dict[str, bool]:
    """MLflow clients switch to parallel part uploads / ranged downloads when these are true."""
    return {MULTIPART_UPLOADS: False, MULTIPART_DOWNLOADS: False}
