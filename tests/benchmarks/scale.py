"""The at-scale workloads: many small files, one huge directory, many big transfers at once.

`ScaleBench` adds them to `Bench`; `concurrent` replaces the plain version with one that cleans
up (and vacuums SeaweedFS) after every target, since 64 x 256 MiB is 16 GiB per target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.benchmarks import capacity, client_path
from tests.benchmarks.clients import CHUNK, connect, delete_prefix, s3_client
from tests.benchmarks.memory import idle_rss
from tests.benchmarks.options import format_size
from tests.benchmarks.progress import say
from tests.benchmarks.servers import S3Info, Server, start_server
from tests.benchmarks.workloads import Bench

FILE_SIZE = 4096
MANYFILES_PREFIX = "bench/manyfiles"
LISTING_DIR = "bench/listing/dir"
LISTING_DIRS = 10  # of the entries, this many are subdirectories (one object inside each)
LISTING_OWNER = "gateway"  # the objects live under this target's prefix; the others read it
CREATE_CONCURRENCY = 32
LIST_TIMEOUT = 600.0
CONC_PREFIX = "bench/conc"
FULL_REP_FILES = 2000  # from this many files on, `manyfiles` runs one repetition
FILE_BODY = bytes(range(256)) * (FILE_SIZE // 256)


def make_tree(root: Path, files: int) -> Path:
    """`files` files of 4 KiB in one directory, written once per run."""
    if root.is_dir() and sum(1 for _ in root.iterdir()) == files:
        return root
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"f{i:05d}.bin").write_bytes(FILE_BODY)
    return root


def _count_files(root: Path) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file())


def tree_roundtrip(
    target: str, s3: S3Info, servers: dict[str, Server], source: Path, dst: Path
) -> tuple[float, float, int]:
    """log_artifacts then download_artifacts of `source` with MLflow's own repositories:
    HTTP for the servers, S3ArtifactRepository (boto3) for direct. Returns both times and the
    number of files that came back."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository

    if target == "direct":
        env = s3.env()
        repo = S3ArtifactRepository(f"s3://{s3.bucket}/direct/{MANYFILES_PREFIX}")
    else:
        env = {"MLFLOW_TRACKING_URI": servers[target].base_url}
        repo = HttpArtifactRepository(f"{servers[target].artifacts_url}/{MANYFILES_PREFIX}")
    with client_path.mlflow_environment(env):
        start = time.perf_counter()
        repo.log_artifacts(str(source), "tree")
        uploaded = time.perf_counter()
        repo.download_artifacts("tree", str(dst))
        downloaded = time.perf_counter()
    return uploaded - start, downloaded - uploaded, _count_files(dst)


async def create_listing(s3: S3Info, entries: int) -> float:
    """`entries` children of one directory, PUT straight to the SeaweedFS filer (about 5x the
    rate of signed S3 PUTs here): files of a few bytes (sizes vary so file_size is checked) and
    LISTING_DIRS subdirectories. Returns seconds."""
    prefix = f"{LISTING_OWNER}/{LISTING_DIR}"
    dirs = min(LISTING_DIRS, entries // 2)
    keys = [f"{prefix}/f{i:06d}.txt" for i in range(entries - dirs)]
    keys += [f"{prefix}/d{i:02d}/inner.txt" for i in range(dirs)]
    queue = iter(enumerate(keys))
    done = 0
    start = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=CREATE_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal done
            for i, key in queue:
                url = f"{s3.filer}/buckets/{s3.bucket}/{key}"
                async with session.put(url, data=b"x" * (i % 7 + 1)) as resp:
                    if resp.status >= 300:
                        raise RuntimeError(f"filer PUT {key}: HTTP {resp.status}")
                done += 1
                if done % max(entries // 10, 1) == 0:
                    rate = done / (time.perf_counter() - start)
                    say(f"  listing: created {done:,}/{len(keys):,} objects ({rate:,.0f}/s)")

        await asyncio.gather(*(worker() for _ in range(CREATE_CONCURRENCY)))
    return time.perf_counter() - start


def check_files(files: list[dict], entries: int) -> None:
    """MLflow's FileInfo list: the right count, names sorted, dirs without sizes."""
    dirs = min(LISTING_DIRS, entries // 2)
    if len(files) != entries:
        raise RuntimeError(f"listed {len(files):,} entries, expected {entries:,}")
    paths = [f["path"] for f in files]
    if paths != sorted(paths):
        raise RuntimeError("entries are not sorted by path")
    if sum(1 for f in files if f["is_dir"]) != dirs:
        raise RuntimeError(f"expected {dirs} directories")
    if any("file_size" not in f for f in files if not f["is_dir"]):
        raise RuntimeError("a file entry has no file_size")


async def list_over_http(server: Server, path: str, entries: int | None = None) -> float:
    """GET the artifacts list route for `path`; seconds until the body is read."""
    timeout = aiohttp.ClientTimeout(total=LIST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        async with session.get(server.artifacts_url, params={"path": path}) as resp:
            body = await resp.read()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {body[:200]!r}")
    if entries is not None:
        check_files(json.loads(body).get("files", []), entries)
    return elapsed


async def list_direct(s3: S3Info, entries: int) -> float:
    """ListObjectsV2 with a delimiter, every page, as a store would; seconds in all."""
    prefix = f"{LISTING_OWNER}/{LISTING_DIR}/"
    count = 0
    async with s3_client(s3) as client:
        start = time.perf_counter()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=s3.bucket, Prefix=prefix, Delimiter="/"):
            count += len(page.get("Contents", [])) + len(page.get("CommonPrefixes", []))
        elapsed = time.perf_counter() - start
    if count != entries:
        raise RuntimeError(f"listed {count:,} entries, expected {entries:,}")
    return elapsed


def _aggregate(conn, metric: str, size: int, n: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        if metric == "concurrent_put":
            await asyncio.gather(*(conn.put(f"{CONC_PREFIX}/{i}.bin", size, n) for i in range(n)))
        else:
            await asyncio.gather(*(conn.get(f"{CONC_PREFIX}/{i}.bin", size, n) for i in range(n)))
        return n * size / CHUNK / (time.perf_counter() - start)

    return run


class ScaleBench(Bench):
    """Bench plus `manyfiles` and `listing`, and a `concurrent` that fits on the disk."""

    @contextlib.contextmanager
    def _also_serving(self, extra: dict[str, Server]):
        """Sample `extra` servers under a target's name for the block (see `_sampled`)."""
        saved = self.servers
        self.servers = {**saved, **extra}
        try:
            yield
        finally:
            self.servers = saved

    async def manyfiles(self) -> None:
        """log_artifacts + download_artifacts of a flat tree of 4 KiB files, stock client."""
        files = self.opts.files
        reps = self.opts.reps if files < FULL_REP_FILES else 1
        params = {"size": FILE_SIZE, "files": files}
        source = make_tree(self.workdir / "manyfiles-src", files)
        note = f" (one rep from {FULL_REP_FILES:,} files on: minutes per target)"
        say(f"many files: {files:,} x 4 KiB, {reps} rep(s)" + note * (files >= FULL_REP_FILES))
        for rep in range(reps):
            for target in self.targets:
                dst = self.workdir / "manyfiles-dst"
                dst.mkdir(parents=True, exist_ok=True)
                with self._sampled(target, "manyfiles", rep, params):
                    try:
                        up, down, got = await asyncio.to_thread(
                            tree_roundtrip, target, self.s3, self.servers, source, dst
                        )
                        if got != files:
                            raise RuntimeError(f"downloaded {got:,} files, expected {files:,}")
                    except Exception as exc:
                        self.add(
                            "manyfiles_log_artifacts", target, rep, None, "s", params, str(exc)
                        )
                        continue
                    finally:
                        await asyncio.to_thread(shutil.rmtree, dst, True)
                self.add("manyfiles_log_artifacts", target, rep, up, "s", params)
                self.add("manyfiles_log_rate", target, rep, files / up, "files/s", params)
                self.add("manyfiles_download_artifacts", target, rep, down, "s", params)
                self.add("manyfiles_download_rate", target, rep, files / down, "files/s", params)
            await self.cleanup(MANYFILES_PREFIX)

    async def listing(self) -> None:
        """One directory of `--listing-entries` children, created once under the gateway's
        prefix; a second reference server is pointed at that prefix to list the same objects."""
        entries = self.opts.listing_entries
        params = {"entries": entries}
        say(f"listing: creating {entries:,} entries in one directory")
        seconds = await create_listing(self.s3, entries)
        self.add("listing_create", "direct", 0, seconds, "s", params)
        with contextlib.ExitStack() as stack:
            extra = {}
            if "reference" in self.targets:
                extra["reference"] = start_server(
                    stack,
                    "reference",
                    self.s3,
                    self.workdir,
                    dict(os.environ),
                    prefix=LISTING_OWNER,
                )
            with self._also_serving(extra):
                await self._warm_listing()
                await self._list_targets(params, entries)
        with contextlib.suppress(Exception):
            await delete_prefix(self.s3, f"{LISTING_OWNER}/bench/listing")

    async def _warm_listing(self) -> None:
        """One small unmeasured listing per server: a fresh server's first request pays for
        imports and clients (seconds for the reference), which is not the listing's cost."""
        for target, server in self.servers.items():
            try:
                await list_over_http(server, f"{LISTING_DIR}/d00")
            except (Exception, asyncio.TimeoutError) as exc:
                say(f"  warm-up listing of {target} failed: {exc}")

    async def _list_targets(self, params: dict, entries: int) -> None:
        for rep in range(self.opts.reps):
            for target in self.targets:
                if target in self.servers:
                    self.add(
                        "listing_idle_rss",
                        target,
                        rep,
                        idle_rss(self.servers[target].pid),
                        "bytes",
                        params,
                    )
                    body = lambda t=target: list_over_http(self.servers[t], LISTING_DIR, entries)  # noqa: E731
                else:
                    body = lambda: list_direct(self.s3, entries)  # noqa: E731
                with self._sampled(target, "listing", rep, params):
                    await self._attempt("listing", target, rep, "s", params, body)

    async def concurrent(self) -> None:
        """`--transfers` objects up at once, then down at once, per target: aggregate MiB/s
        and peak RSS against the budget formula; each target's objects deleted and vacuumed
        before the next, so the disk holds one target's worth at most."""
        n, size = self.opts.transfers, self.opts.transfer_size
        params = {"concurrency": n, "size": size}
        reps = self.opts.concurrent_reps
        say(f"concurrent: {n} x {format_size(size)} each way x {reps} rep(s)")
        baseline = capacity.disk_used(self.workdir)
        seaweed_start = capacity.tree_bytes(self.workdir / "seaweed")
        for rep in range(reps):
            for target in self.targets:
                if problem := capacity.room_for(self.workdir, n * size):
                    self.add("concurrent_put", target, rep, None, "MiB/s", params, problem)
                    continue
                async with connect(target, self.s3, self.servers, pool=n) as conn:
                    for metric in ("concurrent_put", "concurrent_get"):
                        with self._sampled(target, metric, rep, params):
                            await self._attempt(
                                metric,
                                target,
                                rep,
                                "MiB/s",
                                params,
                                _aggregate(conn, metric, size, n),
                            )
                        if metric == "concurrent_put":
                            self._disk("concurrent_disk_added", target, rep, params, baseline)
                await self._reclaim(target, seaweed_start)
                self._disk("concurrent_disk_after_vacuum", target, rep, params, baseline)
        self._budget_bound(params)

    def _disk(self, metric: str, target: str, rep: int, params: dict, baseline: int) -> None:
        """SeaweedFS's data directory (what the workload holds; df moves with other users of the
        machine, so its delta is only noted beside it)."""
        df_delta = capacity.disk_used(self.workdir) - baseline
        seaweed = capacity.tree_bytes(self.workdir / "seaweed")
        self.add(metric, target, rep, seaweed, "bytes", {**params, "df_delta": df_delta})

    async def _reclaim(self, target: str, goal: int) -> None:
        say(f"  deleting {target}'s objects and vacuuming SeaweedFS")
        with contextlib.suppress(Exception):
            await delete_prefix(self.s3, f"{target}/{CONC_PREFIX}")
        try:
            data = self.workdir / "seaweed"
            left = await capacity.reclaim(self.s3.master, data, goal)
            say(f"  SeaweedFS data now {left / capacity.MiB:,.0f} MiB")
        except (Exception, asyncio.TimeoutError) as exc:
            say(f"  vacuum failed: {exc}")

    def _budget_bound(self, params: dict) -> None:
        """The issue's bound, peak RSS <= budget + idle + margin, beside the peaks it bounds."""
        idle = [s.value for s in self.samples if s.metric == "idle_rss" and s.target == "gateway"]
        if "gateway" not in self.servers or not idle or idle[0] is None:
            return
        bound = capacity.budget_bound(self.opts.gateway_args, int(idle[0]))
        self.add("concurrent_budget_bound", "gateway", 0, bound, "bytes", params)
        for metric in ("concurrent_put_peak_rss", "concurrent_get_peak_rss"):
            peaks = [s.value for s in self.samples if s.metric == metric and s.target == "gateway"]
            for peak in (p for p in peaks if p is not None):
                verdict = "within" if peak <= bound else "OVER"
                say(
                    f"  {metric}: {peak / capacity.MiB:.0f} MiB, {verdict} budget + idle + "
                    f"{capacity.MARGIN_MIB} MiB margin = {bound / capacity.MiB:.0f} MiB"
                )
