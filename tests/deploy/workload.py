"""A continuous mixed workload through stock clients, and the audit of what it left behind.

Each worker repeats: a small upload (one PUT), a large one (multipart through signed part URLs),
a listing, and downloads of both (the large one in parallel ranges), every byte checked by
SHA-256. An operation that raises after the client's own retries counts as failed, and is then
tried once more, as an application would (counted apart, as "<kind> retried").
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.flow import MIB, round_trip

SIZES = (64 * 1024, 14 * MIB + 7)  # one PUT; three parts of 5 MiB


@dataclass
class Tally:
    ok: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, error: BaseException | None) -> None:
        with self.lock:
            if error is None:
                self.ok[kind] += 1
            else:
                self.failed[kind] += 1
                self.errors.append(f"{time.strftime('%H:%M:%S')} {kind}: {error!r}"[:500])

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return sum(self.ok.values()), sum(self.failed.values())


class Workload:
    """`workers` threads of round trips against `url` under `root`, until stopped."""

    def __init__(self, url: str, root: str, workdir: Path, workers: int = 3) -> None:
        self.url, self.root, self.workdir = url, root, workdir
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(workers)
        ]

    def _run(self, worker: int) -> None:
        seed = worker * 1_000_000
        while not self._stop.is_set() and seed < (worker + 1) * 1_000_000:
            for size in SIZES:
                seed += 1
                kind = "multipart" if size > 6 * MIB else "small"
                directory = self.workdir / f"w{worker}"
                try:
                    round_trip(self.url, self.root, directory, size, seed)
                    self.tally.record(kind, None)
                except Exception as exc:  # every failure is counted
                    self.tally.record(kind, exc)
                    # The application's retry: the same file again, once.
                    try:
                        round_trip(self.url, self.root, directory, size, seed)
                        self.tally.record(f"{kind} retried", None)
                    except Exception as again:
                        self.tally.record(f"{kind} retried", again)

    def start(self) -> Workload:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 300.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)


def partial_objects(s3, bucket: str, prefix: str) -> tuple[int, list[str]]:
    """Every object under `prefix` is named `<sha256>.bin`: returns (objects, those whose bytes
    do not hash to their name)."""
    bad, count = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            count += 1
            digest = hashlib.sha256()
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            for block in iter(lambda body=body: body.read(4 * MIB), b""):
                digest.update(block)
            if not item["Key"].endswith(f"/{digest.hexdigest()}.bin"):
                bad.append(item["Key"])
    return count, bad


def dangling_uploads(s3, bucket: str) -> list[str]:
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [f"{u['Key']} {u['UploadId']}" for u in uploads]
