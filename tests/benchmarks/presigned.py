"""`presigned` workload: a presigned-only gateway against direct S3 for one big object.

The gateway carries no bytes in that mode, so this measures what a 3.18 client pays for the
gateway's auth, routing and signing on top of the bucket's own speed. The protocol is 3.18's
(`HttpArtifactRepository`): `mpu/create` for the part URLs, parts PUT on SeaweedFS, `mpu/complete`
through the gateway; `presigned/<path>` for the download URL, then one GET on SeaweedFS. It is
written here with aiohttp rather than driving the 3.18 client, whose venv is not the harness's
(the bench venv has 3.17), so both targets run the same part size, parallelism and body source
and the numbers compare the paths, not two client implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import aiohttp
from yarl import URL

from tests.benchmarks import servers as servers_mod
from tests.benchmarks.clients import (
    CHUNK,
    PART,
    PART_SIZE,
    PARTS_IN_FLIGHT,
    Transfer,
    TransferError,
    connect,
    timed_read,
    transfer_timeout,
)
from tests.benchmarks.options import format_size
from tests.benchmarks.progress import say
from tests.benchmarks.servers import Server
from tests.benchmarks.workloads import Bench, _describe

KEY = "bench/presigned/object.bin"
LABEL = "gateway-presigned"
# Metric id -> (label, True when higher is better), merged into report.METRICS.
METRICS = {
    "presigned_upload": ("Presigned-only upload, wall time", False),
    "presigned_upload_rate": ("Presigned-only upload, rate", True),
    "presigned_upload_peak_rss": ("Presigned-only upload, gateway peak RSS", False),
    "presigned_upload_peak_tmp": ("Presigned-only upload, gateway peak temp disk", False),
    "presigned_download": ("Presigned-only download, wall time", False),
    "presigned_download_rate": ("Presigned-only download, rate", True),
    "presigned_download_peak_rss": ("Presigned-only download, gateway peak RSS", False),
    "presigned_download_peak_tmp": ("Presigned-only download, gateway peak temp disk", False),
}


class PresignedClient:
    """What 3.18's HttpArtifactRepository does in presigned-only mode, on one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.base = server.base_url
        self.api = f"{server.base_url}/api/2.0/mlflow-artifacts"

    def _storage_url(self, url: str) -> URL:
        """The link as given (re-quoting would break its signature), and on the storage: a
        gateway link would mean the gateway carried the bytes and the row measured nothing."""
        if url.startswith(self.base):
            raise TransferError(f"the gateway handed out its own link, not a storage URL: {url}")
        return URL(url, encoded=True)

    @staticmethod
    def _timeout(size: int) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=transfer_timeout(size), sock_connect=10, sock_read=120)

    async def _json(self, method: str, url: str, body: dict | None = None) -> dict:
        async with self.session.request(method, url, json=body, timeout=self._timeout(0)) as resp:
            if resp.status >= 300:
                text = (await resp.text(errors="replace"))[:300]
                raise TransferError(f"{method} {url}: HTTP {resp.status}: {text}")
            return await resp.json()

    async def _put_part(self, credential: dict, length: int, gate: asyncio.Semaphore) -> dict:
        async with gate:
            url = self._storage_url(credential["url"])
            headers = {**credential.get("headers", {}), "Content-Length": str(length)}
            async with self.session.put(
                url, data=PART[:length], headers=headers, timeout=self._timeout(length)
            ) as resp:
                if resp.status >= 300:
                    text = (await resp.text(errors="replace"))[:300]
                    raise TransferError(f"part {credential['part_number']}: {resp.status} {text}")
                await resp.read()
                return {"part_number": credential["part_number"], "etag": resp.headers["ETag"]}

    async def put(self, key: str, size: int) -> None:
        directory, _, name = key.rpartition("/")
        lengths = [min(PART_SIZE, size - offset) for offset in range(0, size, PART_SIZE)]
        created = await self._json(
            "POST", f"{self.api}/mpu/create/{directory}", {"path": name, "num_parts": len(lengths)}
        )
        upload = {"path": name, "upload_id": created["upload_id"]}
        gate = asyncio.Semaphore(PARTS_IN_FLIGHT)
        try:
            parts = await asyncio.gather(
                *(
                    self._put_part(credential, lengths[credential["part_number"] - 1], gate)
                    for credential in created["credentials"]
                )
            )
            await self._json(
                "POST", f"{self.api}/mpu/complete/{directory}", {**upload, "parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._json("POST", f"{self.api}/mpu/abort/{directory}", upload)
            raise

    async def get(self, key: str, expected: int) -> Transfer:
        """Time from asking for the link to the last byte, as the client sees it."""
        start = time.perf_counter()
        link = await self._json("GET", f"{self.api}/presigned/{key}")
        if link.get("file_size") != expected:
            raise TransferError(f"{key}: file_size {link.get('file_size')}, expected {expected}")
        url = self._storage_url(link["url"])
        headers = {**link.get("headers", {}), "Accept-Encoding": "identity"}
        async with self.session.get(url, headers=headers, timeout=self._timeout(expected)) as resp:
            if resp.status >= 300:
                raise TransferError(f"GET presigned {key}: HTTP {resp.status}")
            return await timed_read(start, resp.content.iter_any(), key, expected)


@contextlib.asynccontextmanager
async def _client(target: str, bench: Bench) -> AsyncIterator:
    """The presigned-only protocol for the gateway, plain aiobotocore for direct S3."""
    if target == "direct":
        async with connect("direct", bench.s3, bench.servers, pool=PARTS_IN_FLIGHT) as conn:
            yield conn
        return
    connector = aiohttp.TCPConnector(limit=PARTS_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        yield PresignedClient(session, bench.servers[target])


async def _measure(bench: Bench, target: str, rep: int, direction: str, size: int) -> None:
    """One transfer: wall time and MiB/s, and the gateway's peak RSS while it ran."""
    params = {"size": size}
    metric = f"presigned_{direction}"
    async with _client(target, bench) as client:
        with bench._sampled(target, metric, rep, params):
            start = time.perf_counter()
            try:
                if direction == "upload":
                    await client.put(KEY, size)
                    seconds = time.perf_counter() - start
                else:
                    seconds = (await client.get(KEY, size)).seconds
            except (Exception, asyncio.TimeoutError) as exc:
                bench.add(metric, target, rep, None, "s", params, _describe(exc))
                return
    bench.add(metric, target, rep, seconds, "s", params)
    bench.add(f"{metric}_rate", target, rep, size / CHUNK / seconds, "MiB/s", params)


async def run(bench: Bench) -> None:
    """Start a presigned-only gateway beside the harness's, swap it in as `gateway` for the
    workload (so `_sampled` watches it), then stop it; reference is not part of this row."""
    size = bench.opts.presigned_size
    targets = [t for t in bench.targets if t in ("gateway", "direct")]
    say(f"presigned-only vs direct: {format_size(size)} x {bench.opts.reps} reps")
    saved = bench.servers
    with contextlib.ExitStack() as stack:
        if "gateway" in targets:
            args = (*bench.opts.gateway_args, "--artifacts-presigned-only")
            server = await asyncio.to_thread(
                servers_mod.start_server,
                stack,
                "gateway",
                bench.s3,
                bench.workdir,
                dict(os.environ),
                args,
                LABEL,
            )
            bench.servers = {**saved, "gateway": server}
        try:
            for rep in range(bench.opts.reps):
                for direction in ("upload", "download"):
                    for target in targets:
                        await _measure(bench, target, rep, direction, size)
                await bench.cleanup(KEY)
        finally:
            bench.servers = saved
