"""The gateway's own CPU time per small request, metrics and JSON logs on against off.

`python -m tests.benchmarks.cpu_per_request [--pairs N] [--requests N]`: a gateway on a local
destination, N/2 PUT + GET pairs of 4 KiB at concurrency 16, its process's user + system CPU
time divided by the requests; on and off alternate so drift hits both. CPU time is far less
disturbed than a rate by other work on the machine; printed, not asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
from pathlib import Path

import psutil
import requests

from tests.helpers.stack import clean_env, start_gateway

MODES = {"on": ("--log-format", "json"), "off": ("--no-metrics.enabled",)}
CONCURRENCY = 16


def cpu_per_request(args: tuple[str, ...], count: int) -> float:
    """Microseconds of the gateway's CPU per request."""
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        argv = ["--artifacts-destination", str(workdir / "mlartifacts"), *args]
        process, url = start_gateway(workdir, argv, clean_env())
        try:
            api = f"{url}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts"
            body = os.urandom(4096)
            requests.put(f"{api}/warm-up", data=body, timeout=30).raise_for_status()
            gateway = psutil.Process(process.pid)
            before = sum(gateway.cpu_times()[:2])

            def client(first: int) -> None:
                with requests.Session() as session:
                    for i in range(first, count // 2, CONCURRENCY):
                        session.put(f"{api}/f{i}", data=body, timeout=30).raise_for_status()
                        session.get(f"{api}/f{i}", timeout=30).raise_for_status()

            with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(client, range(CONCURRENCY)))
            return (sum(gateway.cpu_times()[:2]) - before) / count * 1e6
        finally:
            process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.cpu_per_request")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    opts = parser.parse_args()
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for pair in range(opts.pairs):
        order = list(MODES) if pair % 2 == 0 else list(reversed(MODES))
        for mode in order:
            samples[mode].append(cpu_per_request(MODES[mode], opts.requests))
        print({mode: [round(v) for v in values] for mode, values in samples.items()}, flush=True)
    on, off = statistics.median(samples["on"]), statistics.median(samples["off"])
    print(f"CPU per request: on {on:.0f} µs, off {off:.0f} µs, on/off {on / off:.3f}")


if __name__ == "__main__":
    main()
