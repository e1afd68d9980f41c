"""What the numbers were measured on: a benchmark result without its machine is not comparable."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys

import psutil

from tests.helpers.seaweed import weed_binary

PACKAGES = ("mlflow", "aiohttp", "aiobotocore", "botocore", "boto3", "psutil", "matplotlib")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _weed_version() -> str | None:
    try:
        out = subprocess.run(
            [weed_binary(), "version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict:
    """nproc, memory, CPU model, OS, Python and the versions of everything in the data path."""
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "seaweedfs": _weed_version(),
        "git_commit": _git_commit(),
    }
