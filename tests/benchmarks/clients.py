"""One async interface over the three ways to move bytes: gateway, reference, direct S3.

`HttpStore` speaks MLflow's artifact REST API with aiohttp; `S3Store` talks to the bucket with
aiobotocore. Workloads only see `put`/`get`, so every measurement runs the same code per target.
Bodies come from a repeated random block, never from disk, and downloads are counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from tests.benchmarks.servers import S3Info, Server

CHUNK = 1024 * 1024
PART_SIZE = 8 * CHUNK
PARTS_IN_FLIGHT = 4
BLOCK = os.urandom(CHUNK)
PART = BLOCK * (PART_SIZE // CHUNK)


def transfer_timeout(size: int) -> float:
    """Generous but finite: a minute plus 4 MiB/s, so a stalled server fails instead of hangs."""
    return 60.0 + size / (4 * CHUNK)


def payload(size: int) -> bytes:
    """Bytes for a body that fits in one part: a slice of the random block(s)."""
    if size > PART_SIZE:
        raise ValueError("payload() is for small bodies; stream larger ones")
    return PART[:size]


async def generate(size: int) -> AsyncIterator[bytes]:
    """`size` bytes in 1 MiB chunks; the block period defeats compression and dedup."""
    sent = 0
    while sent < size:
        chunk = BLOCK if size - sent >= CHUNK else BLOCK[: size - sent]
        sent += len(chunk)
        yield chunk


@dataclass(frozen=True)
class Transfer:
    """One GET: seconds to the first body byte, seconds in total, bytes counted."""

    ttfb: float
    seconds: float
    nbytes: int


class TransferError(RuntimeError):
    pass


def _check_size(key: str, got: int, expected: int) -> None:
    if got != expected:
        raise TransferError(f"{key}: got {got} bytes, expected {expected}")


async def timed_read(
    start: float, chunks: AsyncIterator[bytes], key: str, expected: int
) -> Transfer:
    """Drains a download, noting when its first byte arrived (time to first byte)."""
    ttfb = None
    nbytes = 0
    async for chunk in chunks:
        if ttfb is None:
            ttfb = time.perf_counter() - start
        nbytes += len(chunk)
    seconds = time.perf_counter() - start
    _check_size(key, nbytes, expected)
    return Transfer(ttfb if ttfb is not None else seconds, seconds, nbytes)


class HttpConnection:
    """A pooled aiohttp session against one server's `/api/2.0/mlflow-artifacts/artifacts`."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.server = server
        self.artifacts_url = server.artifacts_url

    async def ping(self) -> None:
        async with self.session.get(f"{self.server.base_url}/health", timeout=self._timeout(0)):
            pass

    @staticmethod
    def _timeout(size: int) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=transfer_timeout(size), sock_connect=10, sock_read=120)

    async def _raise_for(self, resp: aiohttp.ClientResponse, what: str) -> None:
        if resp.status >= 300:
            text = (await resp.text(errors="replace"))[:300]
            raise TransferError(f"{what}: HTTP {resp.status}: {text}")

    async def put(self, key: str, size: int, sharing: int = 1) -> None:
        """`sharing`: transfers splitting the bandwidth with this one, to scale its timeout."""
        data = payload(size) if size <= PART_SIZE else generate(size)
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        url = f"{self.artifacts_url}/{key}"
        async with self.session.put(
            url, data=data, headers=headers, timeout=self._timeout(size * sharing)
        ) as resp:
            await self._raise_for(resp, f"PUT {key}")
            await resp.read()

    async def get(self, key: str, expected: int, sharing: int = 1) -> Transfer:
        start = time.perf_counter()
        url = f"{self.artifacts_url}/{key}"
        headers = {"Accept-Encoding": "identity"}
        timeout = self._timeout(expected * sharing)
        async with self.session.get(url, headers=headers, timeout=timeout) as resp:
            await self._raise_for(resp, f"GET {key}")
            return await timed_read(start, resp.content.iter_any(), key, expected)


class S3Connection:
    """Direct aiobotocore calls on `direct/<key>`: the physical ceiling for the same bytes."""

    def __init__(self, client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    async def ping(self) -> None:
        await asyncio.wait_for(self.client.head_bucket(Bucket=self.bucket), timeout=30)

    async def put(self, key: str, size: int, sharing: int = 1) -> None:
        coro = self._put_single(key, size) if size <= PART_SIZE else self._put_multipart(key, size)
        await asyncio.wait_for(coro, timeout=transfer_timeout(size * sharing))

    async def _put_single(self, key: str, size: int) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=payload(size))

    async def _put_multipart(self, key: str, size: int) -> None:
        """Parts cut from the generator as they come, at most PARTS_IN_FLIGHT uploading."""
        created = await self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))
        upload_id = created["UploadId"]
        gate = asyncio.Semaphore(PARTS_IN_FLIGHT)

        async def part(number: int, length: int) -> dict:
            try:
                resp = await self.client.upload_part(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=PART[:length],
                )
                return {"PartNumber": number, "ETag": resp["ETag"]}
            finally:
                gate.release()

        try:
            tasks = []
            for number, offset in enumerate(range(0, size, PART_SIZE), start=1):
                await gate.acquire()
                tasks.append(asyncio.create_task(part(number, min(PART_SIZE, size - offset))))
            parts = await asyncio.gather(*tasks)
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": list(parts)},
            )
        except BaseException:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
                )
            raise

    async def get(self, key: str, expected: int, sharing: int = 1) -> Transfer:
        timeout = transfer_timeout(expected * sharing)
        return await asyncio.wait_for(self._get(key, expected), timeout=timeout)

    async def _get(self, key: str, expected: int) -> Transfer:
        start = time.perf_counter()
        resp = await self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        async with resp["Body"] as body:
            return await timed_read(start, body.iter_chunks(CHUNK), key, expected)


def aio_config(pool: int) -> AioConfig:
    return AioConfig(
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 1},
        s3={"addressing_style": "path"},
    )


@contextlib.asynccontextmanager
async def s3_client(s3: S3Info, pool: int = 10):
    config = aio_config(pool)
    async with get_session().create_client("s3", config=config, **s3.client_kwargs()) as client:
        yield client


@contextlib.asynccontextmanager
async def connect(
    target: str, s3: S3Info, servers: dict[str, Server], pool: int
) -> AsyncIterator[HttpConnection | S3Connection]:
    """A connection to `target` allowing `pool` concurrent requests, closed on exit.

    One untimed request first: aiobotocore builds its HTTP session and signer lazily, and the
    first timed request of a fresh client would otherwise pay for that (tens of ms).
    """
    conn: HttpConnection | S3Connection
    if target == "direct":
        async with s3_client(s3, pool) as client:
            conn = S3Connection(client, s3.bucket, "direct")
            await conn.ping()
            yield conn
        return
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        conn = HttpConnection(session, servers[target])
        await conn.ping()
        yield conn


async def delete_prefix(s3: S3Info, prefix: str) -> int:
    """Remove everything the runs wrote under `prefix`, so SeaweedFS does not fill the disk."""
    deleted = 0
    async with s3_client(s3) as client:
        for _page in range(10_000):
            listing = await client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix, MaxKeys=1000)
            keys = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
            if not keys:
                break
            await client.delete_objects(Bucket=s3.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted
