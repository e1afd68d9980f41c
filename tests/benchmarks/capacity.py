"""Disk and memory bookkeeping for the `concurrent` workload: it moves 16 GiB per target.

SeaweedFS frees a deleted object's space only when its volume is vacuumed, so every target's
objects are deleted and the volumes vacuumed before the next target writes its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from pathlib import Path

import aiohttp
from pydantic import ByteSize, TypeAdapter

from tests.helpers.memory import MARGIN_MIB

MiB = 1024**2
GiB = 1024**3
DISK_LIMIT = 35 * GiB  # what the workload may add to the disk at its peak (57 GiB were free)
SPARE = 2 * GiB  # left free beyond the objects, for logs and the other servers
VACUUM_TIMEOUT = 600.0
RECLAIM_ROUNDS = 20  # the filer frees deleted chunks from a background queue: vacuum again
RECLAIM_PAUSE = 2.0
RECLAIM_SLACK = 64 * MiB


def disk_used(path: Path) -> int:
    return shutil.disk_usage(path).used


def tree_bytes(root: Path) -> int:
    """Allocated bytes of the files under `root` (SeaweedFS's data directory)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
    return total


def room_for(path: Path, nbytes: int) -> str | None:
    """Why `nbytes` more would not fit on the disk under `path`, or None when they do."""
    free = shutil.disk_usage(path).free
    if nbytes + SPARE > free or nbytes > DISK_LIMIT:
        return (
            f"{nbytes / GiB:.1f} GiB of objects wanted, {free / GiB:.1f} GiB free "
            f"(limit {DISK_LIMIT / GiB:.0f} GiB, {SPARE / GiB:.0f} GiB kept spare)"
        )
    return None


async def vacuum(master: str) -> None:
    """Ask the SeaweedFS master to compact every volume with any garbage at all."""
    if not master:
        return
    timeout = aiohttp.ClientTimeout(total=VACUUM_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        url = f"{master}/vol/vacuum?garbageThreshold=0.0001"
        async with session.get(url) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"vacuum: HTTP {resp.status}: {(await resp.text())[:200]}")
            await resp.read()


async def reclaim(master: str, data_dir: Path, goal: int) -> int:
    """Vacuum until SeaweedFS's data directory is back within RECLAIM_SLACK of `goal` bytes
    (or RECLAIM_ROUNDS pass): a vacuum right after the deletes can find no garbage yet, as the
    filer deletes chunks in the background. Returns the bytes left."""
    left = tree_bytes(data_dir)
    for _ in range(RECLAIM_ROUNDS):
        await vacuum(master)
        left = tree_bytes(data_dir)
        if left <= goal + RECLAIM_SLACK or not master:
            break
        await asyncio.sleep(RECLAIM_PAUSE)
    return left


def budget_bytes(gateway_args: tuple[str, ...]) -> int:
    """The gateway's memory budget for the whole tree: per process, times `--workers`."""
    from gateway.config import Settings

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--memory-budget", type=TypeAdapter(ByteSize).validate_python)
    parser.add_argument("--workers", type=int, default=1)
    given, _ = parser.parse_known_args(list(gateway_args))
    per_process = given.memory_budget or Settings.model_fields["memory_budget"].default
    return int(per_process) * given.workers


def budget_bound(gateway_args: tuple[str, ...], idle: int) -> int:
    """Peak RSS the issue allows: budget + idle footprint + the margin the memory test uses."""
    return budget_bytes(gateway_args) + idle + MARGIN_MIB * MiB
