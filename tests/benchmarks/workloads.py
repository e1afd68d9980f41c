"""The measurements, each interleaving targets (A B C A B C ...) so drift hits all of them alike.

A failed operation becomes a sample with `value=None` and the error text: one broken target
must not hide the numbers of the others, and the report says what broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.benchmarks import client_path
from tests.benchmarks.clients import CHUNK, connect, delete_prefix
from tests.benchmarks.memory import Sampler, idle_rss
from tests.benchmarks.options import Options, format_size
from tests.benchmarks.progress import say
from tests.benchmarks.servers import S3Info, Server


@dataclass
class Sample:
    metric: str
    target: str
    rep: int
    value: float | None
    unit: str
    params: dict = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:500] if str(exc) else traceback.format_exc(limit=2)[-500:]


class Bench:
    """Runs workloads against the targets and collects every sample."""

    def __init__(self, opts: Options, s3: S3Info, servers: dict[str, Server], workdir: Path):
        self.opts = opts
        self.s3 = s3
        self.servers = servers
        self.workdir = workdir
        self.targets = opts.servers
        self.samples: list[Sample] = []

    def add(
        self,
        metric: str,
        target: str,
        rep: int,
        value: float | None,
        unit: str,
        params: dict | None = None,
        error: str | None = None,
    ) -> None:
        self.samples.append(Sample(metric, target, rep, value, unit, dict(params or {}), error))
        shown = "ERROR " + (error or "")[:200] if value is None else f"{value:,.3f} {unit}"
        extra = " ".join(f"{k}={v}" for k, v in (params or {}).items())
        say(f"  {metric:<26} {target:<9} rep {rep} {extra}: {shown}")

    @contextlib.contextmanager
    def _sampled(self, target: str, prefix: str, rep: int, params: dict) -> Iterator[None]:
        """Record peak RSS and temp-disk bytes of the target's server during the block."""
        server = self.servers.get(target)
        if server is None:
            yield
            return
        with Sampler(server.pid, server.tmpdir) as sampler:
            yield
        peaks = sampler.peaks
        params = {
            **params,
            "samples": peaks.samples,
            "processes": peaks.processes,
            "largest_process_rss": peaks.largest_process_rss,
        }
        self.add(f"{prefix}_peak_rss", target, rep, peaks.rss_bytes, "bytes", params)
        self.add(f"{prefix}_peak_tmp", target, rep, peaks.tmp_bytes, "bytes", params)

    async def _attempt(
        self,
        metric: str,
        target: str,
        rep: int,
        unit: str,
        params: dict,
        body: Callable[[], Awaitable[float]],
    ) -> float | None:
        """Await `body` (which returns the value); on failure record the error instead."""
        try:
            value = await body()
        except (Exception, asyncio.TimeoutError) as exc:
            self.add(metric, target, rep, None, unit, params, _describe(exc))
            return None
        self.add(metric, target, rep, value, unit, params)
        return value

    async def cleanup(self, subpath: str) -> None:
        for target in self.targets:
            with contextlib.suppress(Exception):
                await delete_prefix(self.s3, f"{target}/{subpath}")

    def record_idle(self, metric: str = "idle_rss") -> None:
        """Tree RSS with no request in flight: at start, and again at the end to spot growth."""
        for name, server in self.servers.items():
            self.add(metric, name, 0, idle_rss(server.pid), "bytes")

    async def warmup(self) -> None:
        """Unmeasured traffic first: SeaweedFS grows volumes on first write (seconds), servers
        create S3 clients lazily per worker, and the first sample must not pay for either."""
        say("warming up")
        for target in self.targets:
            async with connect(target, self.s3, self.servers, pool=8) as conn:
                try:
                    for metric in ("small_put", "small_get"):
                        await _rate(_small_op(conn, metric, "bench/warmup", 4096), 48, 8)
                    await conn.put("bench/warmup/big.bin", 16 * CHUNK)
                    await conn.get("bench/warmup/big.bin", 16 * CHUNK)
                except (Exception, asyncio.TimeoutError) as exc:
                    say(f"  warm-up of {target} failed: {_describe(exc)}")
        await self.cleanup("bench/warmup")

    async def large(self) -> None:
        """One big object up, then down: wall time, time to first byte, memory, temp disk."""
        size = self.opts.size
        params = {"size": size}
        say(f"large transfers: {format_size(size)} x {self.opts.reps} reps")
        for rep in range(self.opts.reps):
            for target in self.targets:
                async with connect(target, self.s3, self.servers, pool=1) as conn:
                    with self._sampled(target, "large_upload", rep, params):
                        await self._attempt(
                            "large_upload",
                            target,
                            rep,
                            "s",
                            params,
                            _timed(lambda c=conn: c.put("bench/large.bin", size)),
                        )
            for target in self.targets:
                async with connect(target, self.s3, self.servers, pool=1) as conn:
                    with self._sampled(target, "large_download", rep, params):
                        try:
                            got = await conn.get("bench/large.bin", size)
                        except (Exception, asyncio.TimeoutError) as exc:
                            self.add(
                                "large_download", target, rep, None, "s", params, _describe(exc)
                            )
                            continue
                    self.add("large_download_ttfb", target, rep, got.ttfb, "s", params)
                    self.add("large_download", target, rep, got.seconds, "s", params)
            await self.cleanup("bench/large.bin")

    async def small(self) -> None:
        """Many 4 KiB PUTs then GETs at fixed concurrency: per-request overhead, not bandwidth."""
        ops, size = self.opts.small_ops, self.opts.small_size
        for concurrency in self.opts.concurrency:
            params = {"concurrency": concurrency, "ops": ops, "size": size}
            say(f"small files: {ops} x {format_size(size)} at concurrency {concurrency}")
            for rep in range(self.opts.reps):
                prefix = f"bench/small/c{concurrency}/r{rep}"
                for metric in ("small_put", "small_get"):
                    for target in self.targets:
                        async with connect(target, self.s3, self.servers, concurrency) as conn:
                            op = _small_op(conn, metric, prefix, size)
                            await self._attempt(
                                metric,
                                target,
                                rep,
                                "ops/s",
                                params,
                                lambda op=op, c=concurrency: _rate(op, ops, c),
                            )
                await self.cleanup(prefix)

    async def client(self) -> None:
        """MLflow's HttpArtifactRepository log_artifact + download_artifacts (direct: boto3)."""
        size = self.opts.client_size
        params = {"size": size}
        source = client_path.make_file(self.workdir / "client-src" / "client.bin", size)
        say(f"MLflow client path: {format_size(size)} x {self.opts.reps} reps")
        for rep in range(self.opts.reps):
            for target in self.targets:
                dst = self.workdir / "client-dst"
                with self._sampled(target, "client", rep, params):
                    try:
                        up, down = await asyncio.to_thread(
                            client_path.roundtrip, target, self.s3, self.servers, source, dst
                        )
                    except Exception as exc:
                        self.add(
                            "client_log_artifact", target, rep, None, "s", params, _describe(exc)
                        )
                        continue
                self.add("client_log_artifact", target, rep, up, "s", params)
                self.add("client_download_artifacts", target, rep, down, "s", params)
            await self.cleanup(client_path.CLIENT_PREFIX)

    async def throughput(self) -> None:
        """PUT and GET MiB/s for each size in `--sizes`: where per-request cost stops mattering."""
        for size in self.opts.sizes:
            params = {"size": size}
            key = f"bench/tp/{size}.bin"
            say(f"throughput: {format_size(size)} x {self.opts.reps} reps")
            for rep in range(self.opts.reps):
                for metric in ("throughput_put", "throughput_get"):
                    for target in self.targets:
                        async with connect(target, self.s3, self.servers, pool=1) as conn:
                            body = _mib_per_s(conn, metric, key, size)
                            await self._attempt(metric, target, rep, "MiB/s", params, body)
            await self.cleanup("bench/tp")

    async def presigned(self) -> None:
        """A presigned-only gateway against direct S3: see `tests/benchmarks/presigned.py`."""
        from tests.benchmarks import presigned  # it builds on this module

        await presigned.run(self)


def _timed(op: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        await op()
        return time.perf_counter() - start

    return run


def _mib_per_s(conn, metric: str, key: str, size: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        if metric == "throughput_put":
            await conn.put(key, size)
        else:
            await conn.get(key, size)
        return size / CHUNK / (time.perf_counter() - start)

    return run


def _small_op(conn, metric: str, prefix: str, size: int) -> Callable[[int], Awaitable[object]]:
    if metric == "small_put":
        return lambda i: conn.put(f"{prefix}/{i}.bin", size)
    return lambda i: conn.get(f"{prefix}/{i}.bin", size)


async def _rate(op: Callable[[int], Awaitable[object]], ops: int, concurrency: int) -> float:
    """`ops` calls through `concurrency` workers; any failure fails the sample (counted)."""
    counter = itertools.count()
    failures: list[BaseException] = []

    async def worker() -> None:
        while (i := next(counter)) < ops:
            try:
                await op(i)
            except (Exception, asyncio.TimeoutError) as exc:
                failures.append(exc)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)}/{ops} failed, first: {_describe(failures[0])}")
    return ops / elapsed
