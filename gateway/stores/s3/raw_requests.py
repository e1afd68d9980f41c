"""HeadObject, ListObjectsV2 and small PutObjects on the raw path (`socket_http`): signed by
`sigv4.Signer`, answered on a pooled keep-alive socket, parsed here (`list_xml`) instead of by
botocore's request pipeline and response parser (docs/performance.md, "Request rate").
Anything but a plain 200 returns None (False for a PUT) and `S3Store` asks botocore, which
also reports the error.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from botocore.exceptions import BotoCoreError

from gateway.config import S3Transfer
from gateway.stores.base import FileStat
from gateway.stores.s3 import list_xml
from gateway.stores.s3.body import PiecesBody
from gateway.stores.s3.policy import SHA256_META
from gateway.stores.s3.presign import presigned_get, presigned_list, signed_put
from gateway.stores.s3.socket_http import get_small, head, put_small

RAW_PUT_LIMIT = 1024 * 1024  # small files only: the body is joined into one buffer to sign it


class RawRequests:
    """A mixin for `S3Store`: the attributes below are the store's."""

    bucket: str
    transfer: S3Transfer
    _client: Any
    _raw_endpoint: str | None
    _read: dict
    _upload: dict
    _style: str
    _list_page: int | None = None  # keys per raw ListObjectsV2 page: S3's default (1,000)

    def _key(self, path: str) -> str:
        raise NotImplementedError

    def _pages(self, prefix: str, **extra: Any) -> AsyncIterator[dict]:
        raise NotImplementedError

    async def _stat_socket(self, path: str) -> FileStat | None:
        """HeadObject on a socket of our own, as `open_socket`; None (botocore's call does it
        again, and reports) on anything but a 200."""
        if self._raw_endpoint is None or self._read:
            return None
        try:
            url = await presigned_get(
                self._client, self._raw_endpoint, self.bucket, self._key(path), self._style, "HEAD"
            )
            timeouts = (self.transfer.connect_timeout, self.transfer.read_timeout)
            return await head(url, {}, *timeouts)
        except (BotoCoreError, OSError, TimeoutError, ValueError):
            return None

    async def _listed(self, prefix: str) -> AsyncIterator[dict]:
        """The `Delimiter='/'` pages of `prefix`, on the raw path while it answers (parsed by
        `list_xml`), then botocore's paginator from where it stopped (it also reports)."""
        token: str | None = None
        raw = self._raw_endpoint is not None and not self._read
        for _ in range(list_xml.MAX_PAGES if raw else 0):
            page = await self._raw_page(prefix, token)
            if page is None:
                break
            yield page
            if not page["IsTruncated"]:
                return
            token = page["NextContinuationToken"]
        more = {"ContinuationToken": token} if token else {}
        async for page in self._pages(prefix, Delimiter="/", **more):
            yield page

    async def _raw_page(self, prefix: str, token: str | None) -> dict | None:
        query = {"prefix": prefix, "delimiter": "/", "encoding-type": "url"}
        if self._list_page:
            query["max-keys"] = str(self._list_page)
        if token:
            query["continuation-token"] = token
        assert self._raw_endpoint is not None
        try:
            url = await presigned_list(
                self._client, self._raw_endpoint, self.bucket, query, self._style
            )
            if url is None:
                return None
            timeouts = (self.transfer.connect_timeout, self.transfer.read_timeout)
            document = await get_small(url, list_xml.MAX_PAGE, *timeouts)
        except (BotoCoreError, OSError, TimeoutError, ValueError):
            return None
        return None if document is None else list_xml.parse_page(document)

    async def _put_raw(self, key: str, first: PiecesBody, kind: str, sha256: bytes) -> bool:
        """A small PutObject on a socket of our own, as the raw GETs, skipping botocore's
        request pipeline (docs/performance.md, "Small files"). False (botocore's call does it
        again, and reports) on anything but a 200."""
        if self._raw_endpoint is None or len(first) > RAW_PUT_LIMIT or self._upload:
            return False  # an upload policy goes the long way, botocore knows its headers
        data = first.read()
        first.seek(0)  # for botocore's call, if it has to do this again
        try:
            signed = await signed_put(
                self._client,
                self._raw_endpoint,
                self.bucket,
                key,
                data,
                kind,
                self._style,
                {  # as botocore sends `with_digest`'s ChecksumSHA256: S3 checks it on receipt
                    f"x-amz-meta-{SHA256_META}": sha256.hex(),
                    "x-amz-checksum-sha256": base64.b64encode(sha256).decode(),
                },
                sha256,
            )
            if signed is None:
                return False
            url, headers = signed
            timeouts = (self.transfer.connect_timeout, self.transfer.read_timeout)
            return await put_small(url, headers, data, *timeouts)
        except (BotoCoreError, OSError, TimeoutError, ValueError):
            return False
