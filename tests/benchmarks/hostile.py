"""The honest user's latency under each attack of issue 23 (fair share), on a local destination
and on SeaweedFS.

`python -m tests.benchmarks.hostile [--seconds S]`: one gateway per destination with the limits
`tests/test_hostile_clients.py` uses (16 MiB budget, a 1 MiB/s floor after 2 s, so an attack's
whole course fits in the run); for each attack, the honest user (another client address)
repeats a PUT and a GET of 300 KB and of 5 bytes for S seconds while the attackers run.
Prints each attack's median and p99 per request, and the honest requests that failed. Timed
figures vary with the machine's load, so they are printed, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from tests.helpers.hostile import Attacker, Dripper, NonReader, attacking, head, honest_round
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client, clean_env, s3_env, start_gateway

MIB = 1024 * 1024
LIMITS = [
    *("--memory-budget", "16MiB", "--trusted-proxies", "127.0.0.1"),
    *("--fair-share.min-rate", "1MiB", "--fair-share.rate-grace", "2"),
]
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _attacks(url: str, api: str) -> dict[str, tuple[Callable[[int], Attacker] | None, int]]:
    big = os.urandom(24 * MIB)
    requests.put(f"{api}/2/big.bin", data=big, timeout=120).raise_for_status()
    created = requests.post(
        f"{url}/api/2.0/mlflow-artifacts/mpu/create/3/attack",
        json={"path": "parts.bin", "num_parts": 1},
        timeout=30,
    ).json()
    link = created["credentials"][0]["url"].removeprefix(url)

    def upload(i: int) -> Attacker:
        start = head(url, "PUT", f"{ARTIFACTS}/{100 + i}/a.bin", 100 * MIB) + b"a" * 70_000
        return Dripper(url, start)

    return {
        "none": (None, 0),
        "32 dripped 100 MiB uploads": (upload, 32),
        "16 downloads never read": (lambda i: NonReader(url, f"{ARTIFACTS}/2/big.bin"), 16),
        "86 dripped PUTs on one part link": (
            lambda i: Dripper(url, head(url, "PUT", link, 64 * MIB) + b"p" * 70_000),
            86,
        ),
    }


def _honest(api: str, seconds: float) -> tuple[list[float], list[str]]:
    latencies, failures, deadline, i = [], [], time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        payload = os.urandom(300_000 if i % 2 else 5)
        for outcome, elapsed in honest_round(api, f"1/honest-{i % 20}.bin", payload):
            latencies.append(elapsed)
            if outcome != "ok":
                failures.append(outcome)
        i += 1
    return latencies, failures


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@contextlib.contextmanager
def _gateway(workdir: Path, destination: str, env: dict[str, str]) -> Iterator[str]:
    args = [*LIMITS, "--artifacts-destination", destination]
    process, url = start_gateway(workdir, args, env)
    try:
        yield url
    finally:
        process.stop()


def _measure(name: str, url: str, seconds: float) -> None:
    api = f"{url}{ARTIFACTS}"
    _honest(api, 2.0)  # warm-up: lazy imports, pools, the first objects
    for attack, (make, count) in _attacks(url, api).items():
        with contextlib.ExitStack() as stack:
            if make is not None:
                stack.enter_context(attacking(make, count))
            latencies, failures = _honest(api, seconds)
        median, p99 = statistics.median(latencies) * 1000, _p99(latencies) * 1000
        print(
            f"{name:6} {attack:34} {len(latencies):5} requests  median {median:7.1f} ms  "
            f"p99 {p99:7.1f} ms  failed {len(failures)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="honest traffic per attack")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        workdir = Path(tmp)
        with _gateway(workdir / "local", str(workdir / "local" / "root"), clean_env()) as url:
            _measure("local", url, options.seconds)
        seaweed = SeaweedS3(workdir / "seaweed", [ADMIN]).start()
        try:
            admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
            env = clean_env(**s3_env(seaweed.endpoint))
            with _gateway(workdir / "s3", f"s3://{BUCKET}/bench", env) as url:
                _measure("s3", url, options.seconds)
        finally:
            seaweed.stop()


if __name__ == "__main__":
    main()
