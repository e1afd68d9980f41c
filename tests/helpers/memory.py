"""Memory measurements of gateway processes, and the transfers the memory tests send.

MARGIN_MIB is the fixed margin of the memory-budget formula, shared by the test and the
benchmark harness: peak RSS under concurrent transfers must stay within budget + idle footprint
+ this margin. What is resident beyond the idle process and the budgeted buffers: per-connection
stream and socket buffers (up to ~0.75 MiB each, with READ_PIECE reads), botocore request
objects, the 1 MiB signing reads, allocator slack. Measured: 35 MiB over budget + idle at 32
concurrent 40 MiB transfers; the same load without a budget peaked at 611 MiB.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

MIB = 1024 * 1024
MARGIN_MIB = 80
BLOCK = 4 * MIB
SIZE = 40 * MIB  # five 8 MiB parts each: 32 uploads at once want 32 x 4 parts = 1 GiB unbudgeted
TIMEOUT = 300


def body(size: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """Pseudo-random blocks (never a run S3 could compress or deduplicate), hashed as sent."""
    seed = os.urandom(BLOCK)
    sent = 0
    while sent < size:
        block = seed[: min(BLOCK, size - sent)]
        seed = seed[1:] + seed[:1]  # every block differs from the last
        digest.update(block)
        sent += len(block)
        yield block


def peak_rss_mib(pid: int) -> float:
    """VmHWM is the kernel's record of the process's peak resident set."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def vm_rss_mib(pid: int) -> float:
    """The process's resident set now (VmRSS), as opposed to its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc status")


def content(index: int) -> Iterator[bytes]:
    """Distinct 1 MiB blocks per object, so a misplaced or repeated block changes the hash."""
    base = hashlib.sha256(str(index).encode()).digest() * (MIB // 32)
    for block in range(SIZE // MIB):
        yield f"{index}:{block}:".encode() + base[len(f"{index}:{block}:") :]


class Sized:
    """An iterable with a length: requests streams it with Content-Length, as MLflow sends files."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __len__(self) -> int:
        return SIZE

    def __iter__(self) -> Iterator[bytes]:
        return content(self.index)


def expected_digest(index: int) -> str:
    digest = hashlib.sha256()
    for block in content(index):
        digest.update(block)
    return digest.hexdigest()
