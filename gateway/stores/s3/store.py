"""S3-compatible destination (AWS, MinIO, SeaweedFS) through aiobotocore: streamed both ways.

Every backend call runs inside `_errors`, the one funnel that turns botocore and connection
failures into the store vocabulary, keeps the cause, and never puts a key in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from datetime import timezone
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError
from botocore.handlers import add_expect_header

from gateway.config import S3Transfer
from gateway.mime import content_type
from gateway.paths import parent_dirs
from gateway.stores import budget
from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.body_reads import READ_PIECE, arrived
from gateway.stores.capabilities import RangedDownloads, SocketDownload, SocketDownloads
from gateway.stores.digests import hashing, parse_hex
from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    NotFound,
    RangeNotSatisfiable,
    StoreError,
    missing_file,
)
from gateway.stores.options import InvalidDestination
from gateway.stores.ranges import ByteRange
from gateway.stores.s3 import digest_tags
from gateway.stores.s3.body import read_part
from gateway.stores.s3.client_multipart import S3Uploads, streaming_config
from gateway.stores.s3.credentials import install_role
from gateway.stores.s3.gateway_multipart import MultipartWriter, part_size_for
from gateway.stores.s3.listing import ordered_entries
from gateway.stores.s3.models import session as _session
from gateway.stores.s3.options import S3Options
from gateway.stores.s3.policy import SHA256_META, part_args, read_args, upload_args, with_digest
from gateway.stores.s3.presign import presigned_get
from gateway.stores.s3.raw_requests import RawRequests
from gateway.stores.s3.socket_http import close_idle, open_get, plain_http
from gateway.stores.write_once import exists_error

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_REFUSED_CREDENTIALS = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
}
_DELETE_BATCH = 1000


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(uri)
    if not parsed.netloc:
        raise InvalidDestination(f"{uri!r} names no bucket (expected s3://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


def _stat(response: dict) -> FileStat:
    size = response["ContentLength"]
    if content_range := response.get("ContentRange"):
        size = int(content_range.rsplit("/", 1)[1])
    modified = response["LastModified"].astimezone(timezone.utc)
    sha256 = parse_hex(response.get("Metadata", {}).get(SHA256_META))
    return FileStat(size=size, etag=response["ETag"], last_modified=modified, sha256=sha256)


class S3Download(Download):
    def __init__(self, response: dict, stat: FileStat, start: int, stop: int, chunk: int) -> None:
        super().__init__(stat, start, stop)
        self._body = response["Body"]
        self.chunk_size = min(chunk, READ_PIECE)  # see READ_PIECE: larger reads grow buffers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The pieces as the connection delivered them (no joining into `chunk_size` blocks)."""
        read, size = self._body.read, self.chunk_size
        while chunk := await read(size):
            yield chunk

    async def close(self) -> None:
        self._body.close()


class S3Store(S3Uploads, RawRequests, RangedDownloads, SocketDownloads, ArtifactStore):
    def __init__(
        self, dest: S3Options, transfer: S3Transfer, chunk_size: int, name: str = "default"
    ) -> None:
        super().__init__(dest.uri, name)
        self.bucket, self.prefix = parse_s3_uri(dest.uri)
        self.dest = dest
        self.transfer = transfer
        self.chunk_size = chunk_size
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._streaming: Any = None  # for part bodies streamed from a client; made on first use
        self._streaming_lock = asyncio.Lock()
        self._session: AioSession | None = None
        self._config: AioConfig | None = None
        self._raw_endpoint: str | None = None  # set by start() when raw sockets may be used
        self._style = "auto"
        self._role = False  # credentials from `role_arn` (credentials.py)
        self._upload = upload_args(dest)  # every write carries the destination's policy
        self._read = read_args(dest)  # SSE-C: every read carries the key

    async def start(self) -> None:
        dest, transfer = self.dest, self.transfer
        style = dest.addressing_style
        if style == "auto" and dest.endpoint_url:
            style = "path"  # MinIO, SeaweedFS and most self-hosted endpoints
        config = AioConfig(
            connect_timeout=transfer.connect_timeout,
            read_timeout=transfer.read_timeout,
            max_pool_connections=transfer.max_pool_connections,
            # Three in all: botocore's `max_attempts` would count retries, four attempts.
            retries={"mode": "standard", "total_max_attempts": 3},
            # TLS protects the body in transit; SHA-256 signing it would read every part once
            # more. Over plain http the payload signature is what protects it.
            s3={"addressing_style": style, "payload_signing_enabled": not _over_tls(dest)},
            signature_version="s3v4",  # also for presigned URLs, where botocore may pick SigV2
            # Checksums only where S3 requires them: saves a pass over every body and the
            # aws-chunked encoding that older S3-compatible stores reject.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # Fixed for the process: proxies come from the environment, read once here rather than
        # on every request (urllib's getproxies walks the whole environment).
        if transfer.splice and plain_http(dest.endpoint_url):
            self._raw_endpoint = dest.endpoint_url
        self._style = style
        self._session, self._config = _session(dest.profile), config
        self._role = await install_role(self._session, dest)  # then clients get no static keys
        self._client = await self._stack.enter_async_context(self._create(self._session, config))

    async def _stream_client(self) -> Any:
        """The client for streamed part bodies, created on the first part link used: each
        client costs several MiB resident, and most gateways never serve a part link."""
        async with self._streaming_lock:
            if self._streaming is None:
                assert self._session is not None and self._config is not None
                client = self._create(self._session, streaming_config(self._config))
                self._streaming = await self._stack.enter_async_context(client)
        return self._streaming

    @contextlib.asynccontextmanager
    async def _create(self, session: AioSession, config: AioConfig) -> AsyncIterator[Any]:
        """A client that never sends `Expect: 100-continue`.

        botocore adds it to every PUT/POST body with `read` (PutObject, UploadPart), and aiohttp
        then waits for the interim 100 with no timer at all: an S3 that went silent would hold
        the request, its connection and its part buffer forever. Without it the body is sent at
        once and `read_timeout` bounds the wait for the answer.
        """
        async with self._client_for(session, config) as client:
            client.meta.events.unregister("before-call.s3", add_expect_header)
            yield client

    def _client_for(self, session: AioSession, config: AioConfig) -> Any:
        dest = self.dest
        return session.create_client(
            "s3",
            endpoint_url=dest.endpoint_url,
            region_name=dest.region,
            aws_access_key_id=None if self._role else _reveal(dest.access_key_id),
            aws_secret_access_key=None if self._role else _reveal(dest.secret_access_key),
            aws_session_token=None if self._role else _reveal(dest.session_token),
            verify=dest.verify_tls,
            config=config,
        )

    async def close(self) -> None:
        if self._raw_endpoint is not None:
            close_idle(self._raw_endpoint)
        await self._stack.aclose()

    @property
    def endpoint(self) -> str | None:
        return self.dest.endpoint_url

    def _key(self, path: str) -> str:
        return "/".join(part for part in (self.prefix, path) if part)

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Backend failures become the store vocabulary, naming the destination, never the keys.

        A failure of the client's own body (it went away) is the client's, and passes as it is.
        """
        try:
            yield
        except (StoreError, aiohttp.ClientPayloadError):
            raise
        except ClientError as exc:
            raise self._refusal(exc, path) from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DestinationUnavailable(
                f"Destination {self.uri} is unreachable: {type(exc).__name__}: {exc}",
                destination=self.name,
                code=type(exc).__name__,
            ) from exc

    def _refusal(self, exc: ClientError, path: str) -> StoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        where = {"destination": self.name, "code": code}
        if code in _NOT_FOUND:
            return missing_file(path, **where)
        if code == "InvalidRange":
            return RangeNotSatisfiable(-1, **where)
        if code in ("PreconditionFailed", "412"):  # only write-once writes are conditional
            return exists_error(path, self.name)
        if code == "KeyTooLongError":  # the client's path is at fault: a 400 naming no root
            return InvalidRequest("Invalid artifact path: the key is too long", **where)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        message = (
            f"Destination {self.uri} refused the request: {code} {error.get('Message') or status}"
        )
        kind = CredentialsRefused if code in _REFUSED_CREDENTIALS else DestinationUnavailable
        return kind(message.rstrip(), **where)

    async def stat(self, path: str) -> FileStat:
        if (found := await self._stat_socket(path)) is not None:
            return await self._with_tag(path, found)
        try:
            with self._errors(path):
                response = await self._client.head_object(
                    Bucket=self.bucket, Key=self._key(path), **self._read
                )
        except NotFound:
            await self.check()  # HEAD cannot tell a missing key from a missing bucket
            raise
        return await self._with_tag(path, _stat(response))

    async def open(self, path: str, byte_range: ByteRange | None) -> Download:
        extra = {"Range": byte_range.header()} if byte_range else {}
        extra |= self._read
        try:
            with self._errors(path):
                response = await self._client.get_object(
                    Bucket=self.bucket, Key=self._key(path), **extra
                )
        except RangeNotSatisfiable as exc:
            size = (await self.stat(path)).size  # 416 names the size
            raise RangeNotSatisfiable(size, destination=self.name, code=exc.code) from exc
        try:
            stat = await self._with_tag(path, _stat(response))
        except BaseException:
            response["Body"].close()
            raise
        start = 0
        if content_range := response.get("ContentRange"):
            start = int(content_range.split()[1].split("-")[0])
        return S3Download(response, stat, start, start + response["ContentLength"], self.chunk_size)

    async def open_socket(self, path: str, byte_range: ByteRange | None) -> SocketDownload | None:
        """A GET on a presigned URL over a socket of our own, for plain-HTTP endpoints only.

        The URL is signed locally (no round trip); a failure here is not reported but left to
        `open`, which the caller uses next and which translates it."""
        if self._raw_endpoint is None or self._read:
            return None  # SSE-C: the key goes in headers only botocore's call sends
        headers = {"Range": byte_range.header()} if byte_range else {}
        try:
            url = await presigned_get(
                self._client, self._raw_endpoint, self.bucket, self._key(path), self._style
            )
            download = await open_get(
                url, headers, self.transfer.connect_timeout, self.transfer.read_timeout
            )
        except (BotoCoreError, OSError, TimeoutError, ValueError):
            return None
        if download is not None:
            try:
                download.stat = await self._with_tag(path, download.stat)
            except BaseException:
                await download.close()
                raise
        return download

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        key, kind = self._key(path), content_type(path)
        body = hashed = hashing(body)  # checked at its end, before anything is stored
        part_size = part_size_for(self.transfer.part_size, size_hint)
        wanted = part_size if size_hint is None else min(part_size, size_hint)
        body = await arrived(body)  # budget for bytes sent, not for a Content-Length announced
        grant = await budget.current().reserve(wanted)  # before reading the rest: backpressure
        try:
            with self._errors(path):
                first = await read_part(body, part_size)
                if len(first) < part_size:
                    assert hashed.sha256 is not None  # the end was read: the digest is known
                    once = {"IfNoneMatch": "*"} if self.write_once.covers(path) else {}
                    if not once and await self._put_raw(key, first, kind, hashed.sha256):
                        return
                    await self._client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=first,
                        ContentType=kind,
                        **with_digest(self._upload, hashed.sha256),
                        **once,
                    )
                    return
                writer = MultipartWriter(
                    self._client, self.bucket, key, part_size, self.transfer.max_concurrency
                )
                writer.policy = (self._upload, part_args(self.dest))
                writer.write_once = self.write_once.covers(path)
                await writer.upload(first, grant, body, kind)
                assert hashed.sha256 is not None
                await digest_tags.keep(self._client, self.bucket, key, self._upload, hashed.sha256)
        finally:
            grant.release()  # idempotent: the writer returns it as soon as part 1 is stored

    async def _with_tag(self, path: str, stat: FileStat) -> FileStat:
        """A multipart object's digest from its tag (`digest_tags`). Optional: a failure to
        read the tags leaves the file without a digest, and the read itself goes on."""
        if stat.sha256 is not None or not digest_tags.may_be_tagged(stat.etag):
            return stat
        try:
            with self._errors(path):
                sha256 = await digest_tags.tagged(self._client, self.bucket, self._key(path))
        except StoreError:
            return stat
        return dataclasses.replace(stat, sha256=sha256) if sha256 else stat

    async def _pages(self, prefix: str, **extra: Any) -> AsyncIterator[dict]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra):
            yield page

    async def list(self, path: str) -> list[Entry]:
        return [entry async for batch in self.list_batches(path) for entry in batch]

    async def list_batches(self, path: str) -> AsyncIterator[list[Entry]]:
        """One sorted batch per ListObjectsV2 page (see `listing`): never the whole directory."""
        prefix = self._key(path) + "/" if self._key(path) else ""
        with self._errors(path):
            async for batch in ordered_entries(self._listed(prefix), prefix):
                yield batch

    async def delete(self, path: str) -> None:
        key = self._key(path)
        with self._errors(path):
            keys = [key]
            async for page in self._pages(key + "/"):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
            await self._delete_keys(keys)
            # Stores such as SeaweedFS keep an emptied directory listed until `dir/` is deleted.
            markers = {f"{key}/"}
            for inner in keys[1:]:
                markers.update(f"{key}/{d}/" for d in parent_dirs(inner[len(key) + 1 :]))
            await self._delete_keys(sorted(markers, key=lambda m: m.count("/"), reverse=True))
            await self._prune_empty_parents(path)

    async def _prune_empty_parents(self, path: str) -> None:
        for parent in parent_dirs(path):
            marker = self._key(parent) + "/"
            response = await self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=marker, MaxKeys=2
            )
            if any(obj["Key"] != marker for obj in response.get("Contents", [])):
                return
            await self._client.delete_object(Bucket=self.bucket, Key=marker)

    async def _delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[i : i + _DELETE_BATCH]]
            response = await self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if errors := response.get("Errors"):
                first = errors[0]
                raise DestinationUnavailable(
                    f"Destination {self.uri} could not delete {len(errors)} object(s): "
                    f"{first.get('Code')} {first.get('Message', '')}".rstrip(),
                    destination=self.name,
                    code=str(first.get("Code", "")),
                )

    async def check(self) -> None:
        try:
            with self._errors(""):
                await self._client.head_bucket(Bucket=self.bucket)
        except NotFound as exc:
            raise DestinationUnavailable(
                f"Destination {self.uri} refused the request: NoSuchBucket {self.bucket}",
                destination=self.name,
                code="NoSuchBucket",
            ) from exc


def _over_tls(dest: S3Options) -> bool:
    return dest.endpoint_url is None or dest.endpoint_url.lower().startswith("https:")


def _reveal(secret: Any) -> str | None:
    return secret.get_secret_value() if secret is not None else None
