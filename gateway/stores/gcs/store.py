"""Google Cloud Storage over its JSON API, on the gateway's own aiohttp session: reads,
ranged reads and writes never leave the event loop (no SDK thread, no GIL held across a
round trip, unlike pyarrow's `open_input_file`, tests/backends/FINDINGS.md).

Writes are atomic because GCS makes an object visible only when its upload request ends
whole (JSON API, "Uploads"): a body up to `SINGLE_PUT` goes in one multipart (metadata +
bytes) request carrying its SHA-256; a larger one streams in one `uploadType=media` request
(chunked, bounded memory), its SHA-256 added to the metadata right after, on the generation
just written. A failed or cancelled request leaves nothing.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp

from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.body_reads import read_block
from gateway.stores.digests import hashing, parse_hex
from gateway.stores.errors import DestinationUnavailable, InvalidRequest, StoreError
from gateway.stores.gcs.auth import Tokens
from gateway.stores.gcs.errors import FAILURES, GcsHttpError, translate
from gateway.stores.ranges import ByteRange
from gateway.stores.write_once import exists_error, refuse_existing

T = TypeVar("T")
SINGLE_PUT = 8 * 1024 * 1024  # bodies up to this go in one request with their digest
READ_CHUNK = 1024 * 1024  # the most one downloaded chunk holds
STAGING = ".gateway-uploads"  # multipart parts under the prefix: reserved, never listed
SHA256_META = "sha256"  # the object's metadata key for its SHA-256, hex (as S3's x-amz-meta)
_DELETES_AT_ONCE = 16


class GcsDownload(Download):
    chunk_size = READ_CHUNK

    def __init__(self, response: Any, stat: FileStat, start: int, stop: int, fail: Any) -> None:
        super().__init__(stat, start, stop)
        self._response = response
        self._fail = fail

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._response is None:
            return
        try:
            async for piece in self._response.content.iter_chunked(READ_CHUNK):
                yield piece
        except FAILURES as exc:
            raise self._fail(exc) from exc

    async def close(self) -> None:
        if self._response is not None:
            response, self._response = self._response, None
            response.release() if response.content.at_eof() else response.close()


class GcsBlobStore(ArtifactStore):
    """`bucket` and `prefix` name where artifacts live; `endpoint` is the API's base URL."""

    def __init__(
        self,
        uri: str,
        *,
        bucket: str,
        prefix: str,
        endpoint: str,
        tokens: Tokens,
        timeout: float = 60.0,
        name: str = "default",
    ) -> None:
        super().__init__(uri, name)
        self.bucket = bucket
        self.prefix = prefix
        self._base = endpoint.rstrip("/")
        self._tokens = tokens
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str | None:
        return self._base

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=128, enable_cleanup_closed=True),
                timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=self._timeout),
                auto_decompress=False,  # bytes as stored: no gzip transcoding on our side
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- the funnel --------------------------------------------------------------------------

    def _fail(self, path: str) -> Callable[[BaseException], StoreError]:
        return lambda exc: translate(exc, self.uri, self.name, path)

    async def _call(self, path: str, call: Awaitable[T]) -> T:
        """Awaits one request; its failures become the store's, the cause chained."""
        try:
            return await call
        except (*FAILURES, GcsHttpError) as exc:
            raise translate(exc, self.uri, self.name, path) from exc

    async def request(
        self, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """One JSON API request with the bearer token; a non-`expect` answer is GcsHttpError.
        The caller reads or releases the returned response."""
        if self._session is None:
            raise DestinationUnavailable(f"{self.uri} is not started", destination=self.name)
        headers = {**kwargs.pop("headers", {}), **await self._tokens.headers()}
        response = await self._session.request(method, url, headers=headers, **kwargs)
        if response.status not in expect:
            try:
                body = await response.json(content_type=None)
                reason = body["error"]["errors"][0]["reason"]
            except (ValueError, KeyError, IndexError, TypeError, *FAILURES):
                reason = ""
            response.release()
            raise GcsHttpError(response.status, str(reason))
        return response

    async def json(self, path: str, method: str, url: str, **kwargs: Any) -> Any:
        async def call() -> Any:
            response = await self.request(method, url, **kwargs)
            async with response:
                return await response.json(content_type=None) if response.status != 204 else {}

        return await self._call(path, call())

    # -- write-once: GCS's own precondition (ifGenerationMatch=0: only if no live object), and a
    # check first, since fake-gcs-server ignores the precondition on uploads ----------------

    def only_new(self, path: str, name: str) -> dict[str, str]:
        """The precondition for writing `name`, when it is the write-once file `path` itself."""
        covered = name == self.full(path) and self.write_once.covers(path)
        return {"ifGenerationMatch": "0"} if covered else {}

    async def before_commit(self, path: str) -> None:
        if self.write_once.covers(path):
            await refuse_existing(self, path)

    async def json_once(self, path: str, method: str, url: str, **kwargs: Any) -> Any:
        """`json` for a request that may carry `only_new`: its 412 means the path is taken."""
        try:
            return await self.json(path, method, url, **kwargs)
        except StoreError as exc:
            if exc.code == "conditionNotMet" and self.write_once.covers(path):
                raise exists_error(path, self.name) from exc
            raise

    def full(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix and path else (self.prefix or path)

    def object_url(self, name: str) -> str:
        return f"{self._base}/storage/v1/b/{self.bucket}/o/{urllib.parse.quote(name, safe='')}"

    @property
    def upload_url(self) -> str:
        return f"{self._base}/upload/storage/v1/b/{self.bucket}/o"

    def _check_path(self, path: str) -> None:
        if path.split("/", 1)[0] == STAGING:
            raise InvalidRequest(
                f"Invalid artifact path {path!r}: {STAGING} is reserved", destination=self.name
            )

    # -- reads -------------------------------------------------------------------------------

    async def _metadata(self, path: str) -> dict[str, Any]:
        self._check_path(path)
        return await self.json(path, "GET", self.object_url(self.full(path)))

    async def stat(self, path: str) -> FileStat:
        return _stat(await self._metadata(path))

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        meta = await self._metadata(path)
        stat = _stat(meta)
        start, stop = (0, stat.size) if byte_range is None else byte_range.resolve(stat.size)
        if stop == start:
            return GcsDownload(None, stat, 0, 0, self._fail(path))
        params = {"alt": "media", "generation": meta["generation"]}
        headers = {"Accept-Encoding": "identity"}
        if (start, stop) != (0, stat.size):
            headers["Range"] = f"bytes={start}-{stop - 1}"
        url = self.object_url(self.full(path))
        response = await self._call(
            path, self.request("GET", url, params=params, headers=headers, expect=(200, 206))
        )
        return GcsDownload(response, stat, start, stop, self._fail(path))

    async def list(self, path: str) -> list[Entry]:
        entries: list[Entry] = []
        async for batch in self.list_batches(path):
            entries += batch
        return sorted(entries, key=lambda e: e.name)

    async def objects(self, path: str, start: str, **params: str) -> AsyncIterator[dict]:
        """Pages of the JSON API's `objects.list` under the object prefix `start`."""
        token = ""
        while True:
            query = {"prefix": start, **params, **({"pageToken": token} if token else {})}
            url = f"{self._base}/storage/v1/b/{self.bucket}/o"
            page = await self.json(path, "GET", url, params=query)
            yield page
            token = page.get("nextPageToken", "")
            if not token:
                return

    async def list_batches(self, path: str) -> AsyncIterator[list[Entry]]:
        """One batch per page, in name order; `dir/` marker objects are not entries."""
        self._check_path(path)
        where = self.full(path).rstrip("/")
        start = f"{where}/" if where else ""
        async for page in self.objects(path, start, delimiter="/"):
            batch = [
                Entry(name=p[len(start) :].rstrip("/"), is_dir=True)
                for p in page.get("prefixes", [])
            ]
            for item in page.get("items", []):
                name = item["name"][len(start) :]
                if name and not name.endswith("/"):
                    batch.append(Entry(name=name, is_dir=False, size=int(item["size"])))
            if not path:
                batch = [e for e in batch if e.name != STAGING]
            if batch:
                yield sorted(batch, key=lambda e: e.name)

    # -- writes ------------------------------------------------------------------------------

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        self._check_path(path)
        name = self.full(path)
        await self.before_commit(path)
        body = hashed = hashing(body)  # checked at its end, before the upload request ends
        first = await read_block(body, SINGLE_PUT)
        if len(first) < SINGLE_PUT:  # read_block stopped at the body's end
            assert hashed.sha256 is not None  # the end was read
            await self.upload_whole(path, name, first, {SHA256_META: hashed.sha256.hex()})
            return
        failed: list[BaseException] = []

        async def chunks() -> AsyncIterator[bytes]:
            block = first
            try:
                while block:
                    yield block
                    block = await read_block(body, READ_CHUNK)
            except BaseException as exc:  # the body's own failure, not the request's
                failed.append(exc)
                raise

        try:
            meta = await self.upload_stream(path, name, chunks())
        except StoreError:
            if failed:  # aiohttp reports a failing body as a connection error: say the cause
                raise failed[0] from failed[0].__cause__
            raise
        if failed:
            raise failed[0]
        assert hashed.sha256 is not None
        await self.set_metadata(path, name, meta["generation"], {SHA256_META: hashed.sha256.hex()})

    async def upload_whole(
        self, path: str, name: str, data: bytes, metadata: dict[str, str]
    ) -> dict[str, Any]:
        """One multipart upload request: the object's metadata and bytes together."""
        boundary = uuid.uuid4().hex
        head = json.dumps({"name": name, "metadata": metadata}).encode()
        payload = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                head,
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
        params = {"uploadType": "multipart", **self.only_new(path, name)}
        return await self.json_once(
            path, "POST", self.upload_url, params=params, data=payload, headers=headers
        )

    async def upload_stream(self, path: str, name: str, chunks: AsyncIterator[bytes]) -> dict:
        """One `uploadType=media` request with a chunked body: the object appears only if the
        body ends whole; an exception from `chunks` aborts the request."""
        params = {"uploadType": "media", "name": name, **self.only_new(path, name)}
        headers = {"Content-Type": "application/octet-stream"}
        return await self.json_once(
            path, "POST", self.upload_url, params=params, data=chunks, headers=headers
        )

    async def set_metadata(self, path: str, name: str, generation: str, meta: dict) -> None:
        """Adds `meta` to the object's metadata, only on the generation just written."""
        url = self.object_url(name)
        params = {"ifGenerationMatch": generation}
        await self.json(path, "PATCH", url, params=params, json={"metadata": meta})

    async def delete(self, path: str) -> None:
        """A file, or every object under the directory `path`; missing is not an error."""
        self._check_path(path)
        names = [self.full(path)] if path else []
        where = self.full(path).rstrip("/")
        start = f"{where}/" if where else ""
        async for page in self.objects(path, start):
            names += [item["name"] for item in page.get("items", [])]
        await self.delete_names(path, names)

    async def delete_names(self, path: str, names: list[str]) -> None:
        for at in range(0, len(names), _DELETES_AT_ONCE):
            group = names[at : at + _DELETES_AT_ONCE]
            await asyncio.gather(*(self._delete_one(path, name) for name in group))

    async def _delete_one(self, path: str, name: str) -> None:
        try:
            await self.json(path, "DELETE", self.object_url(name), expect=(200, 204))
        except StoreError as exc:
            if exc.code not in ("notFound",) and "No such file" not in exc.message:
                raise

    async def check(self) -> None:
        if self._session is None:
            await self.start()
        try:
            await self.json("", "GET", f"{self._base}/storage/v1/b/{self.bucket}")
        except StoreError as exc:
            raise DestinationUnavailable.of(self.uri, "bucket", exc, self.name) from exc


def _stat(meta: dict[str, Any]) -> FileStat:
    """The ETag is the generation: it changes with the bytes, not with metadata updates."""
    updated = meta.get("updated") or meta.get("timeCreated")
    return FileStat(
        size=int(meta["size"]),
        etag=f'"{meta["generation"]}"',
        last_modified=datetime.fromisoformat(updated.replace("Z", "+00:00")),
        sha256=parse_hex((meta.get("metadata") or {}).get(SHA256_META)),
    )
