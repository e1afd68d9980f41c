"""MLflow's proxied multipart uploads and presigned URLs on Azure blocks.

An upload is a set of uncommitted blocks on the final blob, with ids the gateway chooses:
`<upload id>-<part number>` (part 0 is a one-byte marker that says the upload exists, part
99999 a tombstone that says it was aborted). `complete_upload` commits the listed parts in one
Put Block List, which makes the blob appear whole and discards every other uncommitted block.

Azure has no call that deletes uncommitted blocks: an aborted upload's blocks stay invisible
(no listing or read shows them) until the next commit to that blob or Azure's own collection
after 7 days (Azure docs, "Put Block"). So `list_uploads` reports nothing: the cleanup pass has
nothing it could remove.

Presigned download and upload URLs are account-key SAS tokens (`generate_blob_sas`), only when
the destination is configured with an account key (directly or in its connection string);
a part's is a Put Block URL under the gateway's block id.
"""

from __future__ import annotations

import base64
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway.stores.azure.store import AzureBlobStore, block_id
from gateway.stores.body_reads import exact_chunks
from gateway.stores.capabilities import (
    MultipartUploads,
    PartList,
    PendingUpload,
    RangedDownloads,
    StoragePresigning,
)
from gateway.stores.errors import InvalidRequest, UnknownUpload

_MARKER = 0
_TOMBSTONE = 99_999
_ID_LENGTH = 32


class AzureStore(AzureBlobStore, MultipartUploads, RangedDownloads):
    """Azure without presigning (no account key: SAS tokens or Azure's credential chain)."""

    parts_without_etags = True  # one block per part number; Put Block answers no ETag

    def __init__(self, uri: str, *, account: str, key: str | None, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self.account = account
        self._key = key

    async def create_upload(self, path: str) -> str:
        import uuid

        upload = uuid.uuid4().hex
        blob = self.blob(path)
        await self._call(path, blob.stage_block(block_id(upload, _MARKER), b"\0", length=1))
        return upload

    async def _staged(self, path: str, upload_id: str) -> dict[int, str]:
        """This upload's uncommitted parts by number; UnknownUpload unless it is open."""
        if len(upload_id) != _ID_LENGTH or not upload_id.isalnum():
            raise UnknownUpload(path, upload_id, destination=self.name)
        _, uncommitted = await self._call(
            path, self.blob(path).get_block_list(block_list_type="uncommitted")
        )
        parts: dict[int, str] = {}
        for block in uncommitted:
            owner, number = _decoded(block.id)
            if owner == upload_id:
                parts[number] = block.id
        if _MARKER not in parts or _TOMBSTONE in parts:
            raise UnknownUpload(path, upload_id, destination=self.name)
        del parts[_MARKER]
        return parts

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: Any, size: int
    ) -> str:
        if not 1 <= part_number < _TOMBSTONE:
            raise InvalidRequest(
                f"part number {part_number} is out of range", destination=self.name
            )
        await self._staged(path, upload_id)
        pieces = [piece async for piece in exact_chunks(body, size, size or 1)]
        data = b"".join(pieces)
        ident = block_id(upload_id, part_number)
        await self._call(path, self.blob(path).stage_block(ident, data, length=len(data)))
        return f'"{ident}"'

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        parts = await self._staged(path, upload_id)
        return [(number, f'"{ident}"') for number, ident in sorted(parts.items())]

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        staged = await self._staged(path, upload_id)
        ids = []
        for number, etag in parts:
            if staged.get(number) != etag.strip('"'):
                raise InvalidRequest(
                    f"part {number} of upload {upload_id} is not stored with ETag {etag[:80]}",
                    destination=self.name,
                )
            ids.append(staged[number])
        # No digest: the parts arrived in any order, on any replica (docs/integrity.md).
        await self.committing(path, self.blob(path).commit_block_list(ids, **self.conditions(path)))

    async def abort_upload(self, path: str, upload_id: str) -> None:
        await self._staged(path, upload_id)
        tomb = block_id(upload_id, _TOMBSTONE)
        await self._call(path, self.blob(path).stage_block(tomb, b"\0", length=1))

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        """Nothing to remove: see the module's docstring."""
        return []


class AzurePresigningStore(AzureStore, StoragePresigning):
    """Azure with an account key: presigned URLs are account-key SAS tokens."""

    def _sas_url(self, path: str, expires_in: int, **permission: bool) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        blob = self.blob(path)
        token = generate_blob_sas(
            account_name=self.account,
            container_name=blob.container_name,
            blob_name=blob.blob_name,
            account_key=self._key,
            permission=BlobSasPermissions(**permission),
            expiry=datetime.now(timezone.utc) + timedelta(seconds=expires_in),
        )
        return f"{blob.url}?{token}"

    async def presign_download(self, path: str, expires_in: int) -> str:
        return self._sas_url(path, expires_in, read=True)

    async def presign_upload(self, path: str, expires_in: int) -> str:
        """A Put Blob URL; the client sends `x-ms-blob-type: BlockBlob` (MLflow's does)."""
        return self._sas_url(path, expires_in, create=True, write=True)

    async def presign_part(
        self, path: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        """A SAS Put Block URL under the block id the gateway chose for this part (as MLflow's
        `AzureBlobArtifactRepository.create_multipart_upload` hands out). Put Block answers
        without an ETag, so `complete` takes such a part by its number
        (`parts_without_etags`)."""
        encoded = base64.b64encode(block_id(upload_id, part_number).encode()).decode()
        ident = urllib.parse.quote(encoded, safe="")  # the SDK's stage_block encodes it so
        return f"{self._sas_url(path, expires_in, write=True)}&comp=block&blockid={ident}"


def _decoded(ident: str) -> tuple[str, int]:
    """(upload id, part number) of a block id the gateway chose; ("", -1) for any other."""
    owner, _, number = ident.rpartition("-")
    return (owner, int(number)) if number.isdigit() else ("", -1)
