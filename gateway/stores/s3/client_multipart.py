"""Client-driven multipart uploads on S3. The upload id is S3's, so any replica serves any part."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from gateway.mime import content_disposition, content_type
from gateway.stores import budget
from gateway.stores.base import ByteSource
from gateway.stores.body_reads import arrived, exact_chunks
from gateway.stores.capabilities import (
    MultipartUploads,
    PartList,
    PendingUpload,
    StoragePresigning,
)
from gateway.stores.digests import HashingBody
from gateway.stores.errors import InvalidRequest, StoreError, UnknownUpload
from gateway.stores.write_once import WriteOnce

_REFUSED_COMPLETION = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}


def streaming_config(base: AioConfig) -> AioConfig:
    """Part bodies stream from the client's socket: botocore must not read them ahead to sign
    or checksum them, and cannot retry them (the bytes are gone; the client retries the part)."""
    return base.merge(
        AioConfig(
            s3={**(base.s3 or {}), "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            retries={"mode": "standard", "total_max_attempts": 1},
        )
    )


class StreamedBody:
    """botocore accepts it as a file (it has `read`); aiohttp sends it as an async iterable,
    one chunk at a time, so a part of any size passes through in bounded memory."""

    def __init__(self, body: ByteSource, size: int, chunk: int) -> None:
        self._chunks = exact_chunks(body, size, chunk)
        self.failure: BaseException | None = None  # the client's side, hidden by botocore

    def read(self, *_: object) -> bytes:
        raise io.UnsupportedOperation("a streamed part is read by async iteration")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except BaseException as exc:
            self.failure = exc
            raise


class S3Uploads(MultipartUploads, StoragePresigning):
    """Mixed into S3Store, which provides the clients, `_key` and the `_errors` funnel."""

    bucket: str
    name: str
    chunk_size: int
    _client: Any
    _stream_client: Callable[[], Awaitable[Any]]
    _key: Callable[[str], str]
    _errors: Callable[[str], contextlib.AbstractContextManager[None]]
    write_once: WriteOnce

    @contextlib.contextmanager
    def _upload_call(self, path: str, upload_id: str) -> Iterator[None]:
        """S3's answers about an upload become 404 / 400; anything else is the destination's."""
        with self._errors(path):
            try:
                yield
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                where = {"destination": self.name, "code": code}
                if code == "NoSuchUpload":
                    raise UnknownUpload(path, upload_id, **where) from exc
                if code in _REFUSED_COMPLETION:
                    raise InvalidRequest(
                        f"The destination refused the parts of '{path}': {code} "
                        f"{error.get('Message', '')}".rstrip(),
                        **where,
                    ) from exc
                raise

    async def create_upload(self, path: str) -> str:
        with self._errors(path):
            created = await self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self._key(path), ContentType=content_type(path)
            )
        return created["UploadId"]

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, body: ByteSource, size: int
    ) -> str:
        md5 = _client_md5(body)
        body = await arrived(body)  # a part's budget for a client that has begun sending
        streamed = StreamedBody(body, size, self.chunk_size)
        try:
            async with budget.streamed_part(size, self.chunk_size):
                with self._upload_call(path, upload_id):
                    response = await (await self._stream_client()).upload_part(
                        Bucket=self.bucket,
                        Key=self._key(path),
                        UploadId=upload_id,
                        PartNumber=part_number,
                        ContentLength=size,
                        Body=streamed if size else b"",
                        **md5,
                    )
        except StoreError as exc:
            if streamed.failure is not None:  # the client's body failed, not the destination
                raise streamed.failure from exc
            raise
        return response["ETag"]

    async def list_parts(self, path: str, upload_id: str) -> PartList:
        parts: PartList = []
        with self._upload_call(path, upload_id):
            paginator = self._client.get_paginator("list_parts")
            pages = paginator.paginate(Bucket=self.bucket, Key=self._key(path), UploadId=upload_id)
            async for page in pages:
                parts.extend((p["PartNumber"], p["ETag"]) for p in page.get("Parts", []))
        return parts

    async def complete_upload(self, path: str, upload_id: str, parts: PartList) -> None:
        with self._upload_call(path, upload_id):
            await self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(path),
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
                **({"IfNoneMatch": "*"} if self.write_once.covers(path) else {}),
            )

    async def abort_upload(self, path: str, upload_id: str) -> None:
        with self._upload_call(path, upload_id):
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(path), UploadId=upload_id
            )

    async def list_uploads(self, older_than: datetime) -> list[PendingUpload]:
        """Every upload under this destination's prefix, whoever started it."""
        prefix = self._key("") + "/" if self._key("") else ""
        found = []
        with self._errors(""):
            paginator = self._client.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < older_than:
                        path = upload["Key"][len(prefix) :]
                        found.append(PendingUpload(path, upload["UploadId"], upload["Initiated"]))
        return found

    async def presign_part(
        self, path: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self._key(path),
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        return await self._client.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=expires_in
        )

    async def presign_upload(self, path: str, expires_in: int) -> str:
        params = {"Bucket": self.bucket, "Key": self._key(path)}
        return await self._client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in
        )

    async def presign_download(self, path: str, expires_in: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self._key(path),
            "ResponseContentDisposition": content_disposition(path),
        }
        return await self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )


def _client_md5(body: ByteSource) -> dict[str, str]:
    """The part's own `Content-MD5`, passed on: S3 checks it too, so the bytes are checked where
    they are stored as well as where they pass (the gateway's check, `digests`). A SHA-256
    cannot be: S3 takes `x-amz-checksum-sha256` on a part only for uploads created with that
    algorithm, and MLflow's presigned parts (direct mode) would then need it too."""
    checks = body.checks if isinstance(body, HashingBody) else []
    md5 = next((check.expected for check in checks if check.algorithm == "md5"), None)
    return {"ContentMD5": base64.b64encode(md5).decode()} if md5 is not None else {}
