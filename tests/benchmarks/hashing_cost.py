"""What the SHA-256 of every upload costs: 256 MiB single uploads through a gateway with
digests and one without (`tests.benchmarks.without_digests`), both on one SeaweedFS, alternating
so drift and other work on the machine hit both alike.

`python -m tests.benchmarks.hashing_cost [--pairs N] [--size MiB]`: prints each upload's wall
time and the gateway process's user + system CPU time, then the medians and their ratios, with
the load average before and after. Printed, not asserted (docs/integrity.md keeps the results).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import requests

from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client, clean_env, s3_env, start_gateway

MODULES = {"on": "gateway", "off": "tests.benchmarks.without_digests"}
API = "/api/2.0/mlflow-artifacts/artifacts"
ROOT = Path(__file__).resolve().parents[2]  # the "off" gateway imports its wrapper from here


def upload(url: str, pid: int, body: bytes, name: str) -> tuple[float, float]:
    """(wall seconds, gateway CPU seconds) of one PUT."""
    gateway = psutil.Process(pid)
    cpu = sum(gateway.cpu_times()[:2])
    start = time.perf_counter()
    requests.put(f"{url}{API}/1/bench/{name}", data=body, timeout=600).raise_for_status()
    return time.perf_counter() - start, sum(gateway.cpu_times()[:2]) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.hashing_cost")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="MiB per upload")
    opts = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    body = os.urandom(opts.size * 1024 * 1024)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        seaweed = SeaweedS3(workdir / "seaweed", [ADMIN]).start()
        gateways = {}
        try:
            admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
            env = clean_env(**s3_env(seaweed.endpoint), PYTHONPATH=str(ROOT))
            for mode, module in MODULES.items():
                args = ["--artifacts-destination", f"s3://{BUCKET}/{mode}"]
                gateways[mode] = start_gateway(workdir, args, env, name=mode, module=module)
            samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODULES}
            for pair in range(opts.pairs + 1):  # the first pair warms up and is dropped
                order = list(MODULES) if pair % 2 == 0 else list(reversed(MODULES))
                for mode in order:
                    process, url = gateways[mode]
                    wall, cpu = upload(url, process.pid, body, f"{mode}-{pair}.bin")
                    print(f"pair {pair} {mode:3}: {wall:6.2f} s wall, {cpu:6.2f} s gateway CPU")
                    if pair:
                        samples[mode].append((wall, cpu))
        finally:
            for process, _ in gateways.values():
                process.stop()
            seaweed.stop()
    medians = {m: [statistics.median(s[i] for s in samples[m]) for i in (0, 1)] for m in MODULES}
    for mode, (wall, cpu) in medians.items():
        print(f"{mode:3} median: {wall:.2f} s wall, {cpu:.2f} s gateway CPU")
    on, off = medians["on"], medians["off"]
    print(f"with digests / without: wall {on[0] / off[0]:.3f}, gateway CPU {on[1] / off[1]:.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
