"""Samples the gateway process from outside every few seconds, with the latency of the
operations that finished since the previous sample.

asyncio tasks cannot be counted from outside the process. The hook: if the gateway answers
`GET /metrics` with a Prometheus line `gateway_asyncio_tasks <n>` (a later `/metrics` endpoint
may), the sampler records it and the trend check covers it; until then the column is empty
and the report says so.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

import psutil

from tests.soak.workload import LARGE_OPS, Done

TASKS_METRIC = "gateway_asyncio_tasks"


@dataclass
class Sample:
    t: float  # seconds since the workload started
    rss_mib: float
    fds: int
    threads: int
    s3_conns: int  # TCP connections from the gateway to SeaweedFS's S3 port, any state
    client_conns: int  # connections from clients to the gateway's port
    close_wait: int  # connections the peer closed and the gateway has not
    tasks: int | None
    ops: int
    errors: int
    small_p50_ms: float | None
    small_p95_ms: float | None
    small_p99_ms: float | None
    large_p50_ms: float | None
    large_p95_ms: float | None
    large_p99_ms: float | None

    def row(self) -> dict:
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def tasks_from_metrics(url: str) -> int | None:
    """The gateway's own count of asyncio tasks, if it exposes one at /metrics."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    for line in text.splitlines():
        if line.startswith(TASKS_METRIC):
            try:
                return int(float(line.split()[-1]))
            except ValueError:
                return None
    return None


class Sampler:
    def __init__(self, pid: int, url: str, s3_port: int, done: list[Done], interval: float):
        self.proc = psutil.Process(pid)
        self.url = url
        self.gateway_port = int(url.rsplit(":", 1)[1])
        self.s3_port = s3_port
        self.done = done
        self.interval = interval
        self.samples: list[Sample] = []
        self.has_tasks = tasks_from_metrics(url) is not None
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._start = time.monotonic()

    def start(self) -> Sampler:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval * 4 + 30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> Sample:
        conns = self.proc.net_connections(kind="tcp")
        outbound = [c for c in conns if c.raddr and c.raddr.port == self.s3_port]
        inbound = [c for c in conns if c.raddr and c.laddr.port == self.gateway_port]
        finished = self.done[self._seen :]
        self._seen += len(finished)
        small = [d.seconds * 1000 for d in finished if d.ok and d.op not in LARGE_OPS]
        large = [d.seconds * 1000 for d in finished if d.ok and d.op in LARGE_OPS]
        sample = Sample(
            t=round(time.monotonic() - self._start, 2),
            rss_mib=round(self.proc.memory_info().rss / 2**20, 2),
            fds=self.proc.num_fds(),
            threads=self.proc.num_threads(),
            s3_conns=len(outbound),
            client_conns=len(inbound),
            close_wait=sum(1 for c in conns if c.status == psutil.CONN_CLOSE_WAIT),
            tasks=tasks_from_metrics(self.url) if self.has_tasks else None,
            ops=len(finished),
            errors=sum(1 for d in finished if not d.ok),
            small_p50_ms=percentile(small, 50),
            small_p95_ms=percentile(small, 95),
            small_p99_ms=percentile(small, 99),
            large_p50_ms=percentile(large, 50),
            large_p95_ms=percentile(large, 95),
            large_p99_ms=percentile(large, 99),
        )
        self.samples.append(sample)
        return sample
