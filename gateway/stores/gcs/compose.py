"""MLflow's proxied multipart uploads and V4 presigned URLs on GCS.

fake-gcs-server (the tests' emulator, 1.54) has no XML API multipart upload (`POST ?uploads`
answers 400), so uploads use what both it and GCS have: each part is its own object under
`<prefix>/.gateway-uploads/<upload id>/`, beside a marker object that says the upload exists
and names its path; `complete_upload` composes the listed parts into the final object (JSON
API `objects.compose`: 32 sources per call, so more parts go in a chain, each link composing
the previous one and the next 31), which appears whole in one step, then deletes the upload's
objects. `abort_upload` deletes them; the cleanup pass finds old markers (`list_uploads`).

A part's ETag is its MD5 in hex, what GCS's XML API PUT answers in `ETag` for a presigned
part (`GcsPresigningStore.presign_part`) and what a proxied part PUT returns too; the compose
names each part's current generation, so a part replaced after the check is not composed.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any

from gateway.stores.base import ByteSource
from gateway.stores.body_reads import exact_chunks
from gateway.stores.capabilities import (
    MultipartUploads,
    PartList,
    PendingUpload,
    RangedDownloads,
    StoragePresigning,
)
from gateway.stores.errors import InvalidRequest, UnknownUpload
from gateway.stores.gcs.auth import SigningKey
from gateway.stores.gcs.signing import signed_url
from gateway.stores.gcs.store import READ_CHUNK, STAGING, GcsBlobStore, _stat

COMPOSE_LIMIT = 32  # source objects per compose request (GCS docs, "objects.compose")
_MARKER = "upload"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART = re.compile(r"^part-(\d{5})$")


class GcsStore(GcsBlobStore, MultipartUploads, RangedDownloads):
    """GCS without a signing key: multipart through the gateway, no presigning."""

    # One object per part number; fake-gcs-server's signed PUT answers without an ETag.
    parts_without_etags = True

    def _staging(self, upload_id: str) -> str:
        return self.full(f"{STAGING}/{upload_id}")

    async def create_upload(self, path: str) -> str:
        self._check_path(path)
        upload = uuid.uuid4().hex
        await self.upload_whole(path, f"{self._staging(upload)}/{_MARKER}", b"", {"path": path})
        return upload

    async def _parts(self, path: str, upload_id: str) -> dict[int, tuple[str, str]]:
        """This upload's parts by number: (generation, ETag); UnknownUpload unless it is open
        for `path`."""
        if not _UPLOAD_ID.match(upload_id):
            raise UnknownUpload(path, upload_id, destination=self.name)
        start = f"{self._staging(upload_id)}/"
        marker, parts = None, {}
        async for page in self.objects(path, start):
            for item in page.get("items", []):
                leaf = item["name"][len(start) :]
                if leaf == _MARKER:
                    marker = item
                elif match := _PART.match(leaf):
                    parts[int(match.group(1))] = (item["generation"], _etag(item))
        if marker is None or (marker.get("metadata") or {}).get("path") != path:
            raise UnknownUpload(path, upload_id, destination=self.name)
        return parts

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        if not 1 <= part_number <= 99_999:
            raise InvalidRequest(
                f"part number {part_number} is out of range", destination=self.name
            )
        await self._parts(path, upload_id)
        name = f"{self._staging(upload_id)}/part-{part_number:05d}"
        meta = await self.upload_stream(path, name, exact_chunks(body, size, READ_CHUNK))
        return f'"{_etag(meta)}"'

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        parts = await self._parts(path, upload_id)
        return [(number, f'"{etag}"') for number, (_, etag) in sorted(parts.items())]

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        stored = await self._parts(path, upload_id)
        staging = self._staging(upload_id)
        sources = []
        for number, etag in parts:
            generation, stored_etag = stored.get(number, ("", ""))
            if stored_etag != etag.strip('"'):
                raise InvalidRequest(
                    f"part {number} of upload {upload_id} is not stored with ETag {etag[:80]}",
                    destination=self.name,
                )
            sources.append({"name": f"{staging}/part-{number:05d}", "generation": generation})
        if not sources:
            raise InvalidRequest("an upload needs at least one part", destination=self.name)
        links = []
        while len(sources) > COMPOSE_LIMIT:  # chain: link n = link n-1 + the next 31 parts
            link = f"{staging}/chain-{len(links):05d}"
            meta = await self._compose(path, link, sources[:COMPOSE_LIMIT])
            links.append(link)
            sources = [{"name": link, "generation": meta["generation"]}, *sources[COMPOSE_LIMIT:]]
        await self.before_commit(path)
        name = self.full(path)
        await self._compose(path, name, sources, self.only_new(path, name))
        await self._forget(path, upload_id)

    async def _compose(
        self, path: str, name: str, sources: list[dict], params: dict | None = None
    ) -> dict[str, Any]:
        url = f"{self.object_url(name)}/compose"
        kind = {"contentType": "application/octet-stream"}
        body = {"sourceObjects": sources, "destination": kind}
        return await self.json_once(path, "POST", url, json=body, params=params or {})

    async def _forget(self, path: str, upload_id: str) -> None:
        """Deletes the upload's objects, the marker last: a crash midway leaves it findable."""
        start = f"{self._staging(upload_id)}/"
        names = []
        async for page in self.objects(path, start):
            names += [item["name"] for item in page.get("items", [])]
        marker = f"{start}{_MARKER}"
        await self.delete_names(path, [n for n in names if n != marker])
        await self.delete_names(path, [marker])

    async def abort_upload(self, path: str, upload_id: str) -> None:
        await self._parts(path, upload_id)
        await self._forget(path, upload_id)

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        """Markers older than `older_than`: uploads neither completed nor aborted."""
        start = f"{self.full(STAGING)}/"
        found = []
        async for page in self.objects("", start):
            for item in page.get("items", []):
                upload, _, leaf = item["name"][len(start) :].partition("/")
                stat = _stat(item)
                target = (item.get("metadata") or {}).get("path")
                if leaf == _MARKER and target and stat.last_modified < older_than:
                    found.append(PendingUpload(target, upload, stat.last_modified))
        return found


class GcsPresigningStore(GcsStore, StoragePresigning):
    """GCS with a service-account key: presigned URLs are V4 signed XML API URLs."""

    def __init__(self, uri: str, *, signing_key: SigningKey, signed_base: str, **kw: Any) -> None:
        super().__init__(uri, **kw)
        self._key = signing_key
        self._signed_base = signed_base

    def _signed(self, path: str, method: str, expires_in: int) -> str:
        self._check_path(path)
        return signed_url(
            self._key, self._signed_base, self.bucket, self.full(path), method, expires_in
        )

    async def presign_download(self, path: str, expires_in: int) -> str:
        return self._signed(path, "GET", expires_in)

    async def presign_upload(self, path: str, expires_in: int) -> str:
        """An XML API PUT Object URL: the object appears when the PUT ends whole."""
        return self._signed(path, "PUT", expires_in)

    async def presign_part(
        self, path: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        """A signed PUT of the part's own object. The upload is checked when the URL is
        handed out (`mpu/create` has just made it) and again at `complete_upload`."""
        name = f"{self._staging(upload_id)}/part-{part_number:05d}"
        return signed_url(self._key, self._signed_base, self.bucket, name, "PUT", expires_in)


def _etag(item: dict[str, Any]) -> str:
    """The object's MD5 in hex (GCS's XML API ETag); its generation when it has none."""
    md5 = item.get("md5Hash")
    return base64.b64decode(md5).hex() if md5 else str(item["generation"])
