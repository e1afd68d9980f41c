"""The mixed workload: fixed concurrency, bounded by the deadline, every request with a timeout.

Each worker owns experiment `<n>` and cycles through weighted operations: small and large PUT
and GET, ranged GET, listings, client multipart uploads, deletes, an unauthenticated request
(401 expected), and clients that vanish mid-upload or mid-download (their outcome is not an
error; what the gateway does about them is what the resource samples show).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from dataclasses import dataclass, field

import aiohttp

from tests.soak.servers import PASSWORD, USER

KIB, MIB = 1024, 1024 * 1024
API = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu"
REQUEST_TIMEOUT = 120
KEEP_SMALL = 40  # small files a worker keeps before deleting the oldest

WEIGHTS = {
    "put_small": 28,
    "get_small": 25,
    "list": 10,
    "delete": 6,
    "get_range": 6,
    "put_large": 3,
    "get_large": 3,
    "multipart": 2,
    "unauthenticated": 3,
    "abandon_upload": 2,
    "abandon_download": 2,
}
LARGE_OPS = {"put_large", "get_large", "multipart", "abandon_upload", "abandon_download"}


@dataclass
class Done:
    end: float  # monotonic
    op: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Worker:
    n: int
    url: str
    session: aiohttp.ClientSession
    large: bytes
    rng: random.Random
    small: list[tuple[str, str]] = field(default_factory=list)  # (path, sha256)
    large_path: str | None = None

    @property
    def exp(self) -> str:
        return str(self.n + 1)

    def api(self, path: str) -> str:
        return f"{self.url}{API}/{path}"

    async def put_small(self) -> str:
        data = os.urandom(self.rng.randint(4 * KIB, 64 * KIB))
        path = f"{self.exp}/run/artifacts/s{self.rng.getrandbits(48):012x}.bin"
        async with self.session.put(self.api(path), data=data) as resp:
            _expect(resp.status, 200, "PUT small")
        self.small.append((path, hashlib.sha256(data).hexdigest()))
        if len(self.small) > KEEP_SMALL:
            await self._delete(self.small.pop(0)[0])
        return ""

    async def get_small(self) -> str:
        if not self.small:
            return await self.put_small()
        path, digest = self.rng.choice(self.small)
        async with self.session.get(self.api(path)) as resp:
            _expect(resp.status, 200, "GET small")
            body = await resp.read()
        if hashlib.sha256(body).hexdigest() != digest:
            raise AssertionError(f"GET {path}: wrong bytes")
        return ""

    async def list(self) -> str:
        async with self.session.get(
            f"{self.url}{API}", params={"path": f"{self.exp}/run/artifacts"}
        ) as r:
            _expect(r.status, 200, "list")
            await r.json()
        return ""

    async def delete(self) -> str:
        if not self.small:
            return ""
        await self._delete(self.small.pop(self.rng.randrange(len(self.small)))[0])
        return ""

    async def _delete(self, path: str) -> None:
        async with self.session.delete(self.api(path)) as resp:
            _expect(resp.status, 200, "DELETE")

    async def put_large(self) -> str:
        path = f"{self.exp}/run/artifacts/large.bin"
        async with self.session.put(self.api(path), data=self.large) as resp:
            _expect(resp.status, 200, "PUT large")
        self.large_path = path
        return ""

    async def get_large(self) -> str:
        if self.large_path is None:
            return await self.put_large()
        digest = hashlib.sha256()
        async with self.session.get(self.api(self.large_path)) as resp:
            _expect(resp.status, 200, "GET large")
            async for chunk in resp.content.iter_chunked(256 * KIB):
                digest.update(chunk)
        if digest.digest() != hashlib.sha256(self.large).digest():
            raise AssertionError("GET large: wrong bytes")
        return ""

    async def get_range(self) -> str:
        if self.large_path is None:
            return await self.put_large()
        start = self.rng.randrange(len(self.large) - MIB)
        headers = {"Range": f"bytes={start}-{start + MIB - 1}"}
        async with self.session.get(self.api(self.large_path), headers=headers) as resp:
            _expect(resp.status, 206, "GET range")
            body = await resp.read()
        if body != self.large[start : start + MIB]:
            raise AssertionError("GET range: wrong bytes")
        return ""

    async def multipart(self) -> str:
        directory = f"{self.exp}/run/artifacts"
        parts = [self.large[: 5 * MIB], self.large[5 * MIB : 6 * MIB]]
        body = {"path": "/tmp/mpu.bin", "num_parts": len(parts)}
        async with self.session.post(f"{self.url}{MPU}/create/{directory}", json=body) as resp:
            _expect(resp.status, 200, "mpu/create")
            created = await resp.json()
        etags = []
        for credential, data in zip(created["credentials"], parts, strict=True):
            async with self.session.put(credential["url"], data=data) as resp:
                _expect(resp.status, 200, "part PUT")
                etags.append(
                    {"part_number": credential["part_number"], "etag": resp.headers["ETag"]}
                )
        body = {"path": "/tmp/mpu.bin", "upload_id": created["upload_id"], "parts": etags}
        async with self.session.post(f"{self.url}{MPU}/complete/{directory}", json=body) as resp:
            _expect(resp.status, 200, "mpu/complete")
        return ""

    async def unauthenticated(self) -> str:
        async with (
            aiohttp.ClientSession(timeout=self.session.timeout) as anonymous,
            anonymous.get(f"{self.url}{API}", params={"path": self.exp}) as resp,
        ):
            _expect(resp.status, 401, "anonymous GET")
        return ""

    async def abandon_upload(self) -> str:
        """Declares 8 MiB, sends 2 MiB, and goes away."""
        host, port = self.url.removeprefix("http://").split(":")
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
        try:
            path = f"{API}/{self.exp}/run/artifacts/abandoned.bin"
            auth = aiohttp.BasicAuth(USER, PASSWORD).encode()
            head = (
                f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
                f"Content-Length: {8 * MIB}\r\n\r\n"
            )
            writer.write(head.encode() + self.large[: 2 * MIB])
            await writer.drain()
            await asyncio.sleep(0.2)
        finally:
            writer.close()
        return "vanished mid-upload"

    async def abandon_download(self) -> str:
        if self.large_path is None:
            return await self.put_large()
        resp = await self.session.get(self.api(self.large_path))
        try:
            _expect(resp.status, 200, "GET large")
            await resp.content.readexactly(MIB)
        finally:
            resp.close()  # drops the connection with the rest unread
        return "vanished mid-download"


def _expect(status: int, wanted: int, what: str) -> None:
    if status != wanted:
        raise AssertionError(f"{what}: {status}, expected {wanted}")


async def run(url: str, concurrency: int, seconds: float, done: list[Done], seed: int = 1) -> None:
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    auth = aiohttp.BasicAuth(USER, PASSWORD)
    large = os.urandom(12 * MIB)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(auth=auth, timeout=timeout, connector=connector) as session:
        workers = [
            Worker(n, url, session, large, random.Random(seed * 1000 + n))
            for n in range(concurrency)
        ]
        ops, weights = list(WEIGHTS), list(WEIGHTS.values())

        async def loop(worker: Worker) -> None:
            while time.monotonic() < deadline:
                op = worker.rng.choices(ops, weights)[0]
                started = time.monotonic()
                try:
                    detail = await asyncio.wait_for(getattr(worker, op)(), REQUEST_TIMEOUT)
                    done.append(
                        Done(time.monotonic(), op, time.monotonic() - started, True, detail)
                    )
                except (Exception, asyncio.TimeoutError) as exc:
                    message = f"{type(exc).__name__}: {exc}"[:300]
                    done.append(
                        Done(time.monotonic(), op, time.monotonic() - started, False, message)
                    )

        await asyncio.gather(*(loop(w) for w in workers))
