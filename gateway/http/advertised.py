"""What the gateway itself can do with artifacts, as `/server-info` advertises it to clients."""

from __future__ import annotations

from aiohttp import web

from gateway.http.access import DESTINATIONS
from gateway.stores.capabilities import MultipartUploads, RangedDownloads

MULTIPART_UPLOADS = "multipart_uploads_enabled"
MULTIPART_DOWNLOADS = "multipart_downloads_enabled"
SERVING = "artifact_serving_enabled"
PRESIGNED_ONLY = "artifacts_presigned_only"
MODEL_PRESIGNED_DOWNLOADS = "model_artifact_presigned_downloads_supported"
FIELDS = (MULTIPART_UPLOADS, MULTIPART_DOWNLOADS, SERVING, PRESIGNED_ONLY)
FIELDS += (MODEL_PRESIGNED_DOWNLOADS,)  # every field the gateway sets in /server-info


def artifact_capabilities(app: web.Application) -> dict[str, bool]:
    """MLflow clients switch to parallel part uploads / ranged downloads when these are true,
    and 3.18's to presigned transfers only; its UI hides artifact features unless serving.

    A client asks once per server, so a capability holds only if every destination has it;
    `artifacts_presigned_only` holds if any destination is, since a client told so still
    reaches every destination with multipart (`mpu/*`, `presigned/`), while one not told would
    be refused on a presigned-only destination.
    """
    stores = app[DESTINATIONS].all()
    ranged = all(isinstance(store, RangedDownloads) for store in stores)
    return {
        MULTIPART_UPLOADS: all(isinstance(store, MultipartUploads) for store in stores),
        MULTIPART_DOWNLOADS: ranged,
        SERVING: True,
        PRESIGNED_ONLY: any(store.presigned_only for store in stores),
        MODEL_PRESIGNED_DOWNLOADS: ranged,
    }
