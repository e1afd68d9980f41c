"""Three gateway replicas (processes) behind HAProxy, a rolling restart and a kill -9 under load.

    python -m tests.deploy.replicas [--seconds-per-step N]

Prints a JSON report; docs/deployment.md ("Replicas behind a load balancer") holds the last
one. Replicas are processes, not containers (tests/deploy/image.py runs the image): the
properties checked here — a shared signing secret, statelessness, drain — are the gateway's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.compat import clients
from tests.deploy.flow import MIB, configure, make_file
from tests.deploy.haproxy import Balancer
from tests.deploy.workload import Workload, dangling_uploads, partial_objects
from tests.helpers.multipart import SECRET
from tests.helpers.processes import ManagedProcess, free_port, gateway_argv
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client, clean_env, s3_env

PREFIX = "replicas"
URL_TTL, CLEANUP_AGE, CLEANUP_INTERVAL = 60, 61, 5
SHUTDOWN_TIMEOUT = 30.0


def replica(workdir: Path, name: str, port: int, seaweed: SeaweedS3, public: str):
    args = [
        "--artifacts-destination",
        f"s3://{BUCKET}/{PREFIX}",
        "--public-url",
        public,
        "--multipart.url-ttl",
        str(URL_TTL),
        "--multipart.cleanup-age",
        str(CLEANUP_AGE),
        "--multipart.cleanup-interval",
        str(CLEANUP_INTERVAL),
        "--shutdown-timeout",
        str(SHUTDOWN_TIMEOUT),
    ]
    env = clean_env(**s3_env(seaweed.endpoint), GATEWAY_MULTIPART__SIGNING_SECRET=SECRET)
    return ManagedProcess(
        gateway_argv(port, *args),
        f"http://127.0.0.1:{port}/health",
        workdir / f"{name}.log",
        env=env,
        stop_grace=SHUTDOWN_TIMEOUT + 15,
    )


def served_by(replicas: dict[str, ManagedProcess], marker: str) -> dict[str, int]:
    """How many access-log lines of each replica contain `marker`."""
    return {
        name: sum(marker in line for line in process.log_text().splitlines())
        for name, process in replicas.items()
    }


# A stock MLflow 3.18 client (tests/compat/clients.py's venv) in its own process: it logs the
# file (proxy multipart, from configure()'s environment) and downloads it back (ranges).
CLIENT_318 = """
import hashlib, json, sys
import mlflow
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
url, root, source, back = sys.argv[1:]
repo = MlflowArtifactsRepository(f"mlflow-artifacts://{url.removeprefix('http://')}/{root}")
repo.log_artifact(source)
local = repo.download_artifacts(source.rsplit("/", 1)[1], dst_path=back)
print(json.dumps({"mlflow": mlflow.__version__,
                  "sha256": hashlib.sha256(open(local, "rb").read()).hexdigest()}))
"""


def spread(lb: Balancer, replicas: dict[str, ManagedProcess], workdir: Path) -> dict:
    """One multipart upload and one ranged download through the balancer by a stock 3.18
    client: which replicas served."""
    python = clients.ensure("3.18.0").python
    parts_before = served_by(replicas, "/mpu/part/")
    ranges_before = served_by(replicas, "/signed/")
    source, digest = make_file(workdir, 41 * MIB + 5, seed=7)
    (workdir / "back").mkdir()
    argv = [str(python), "-c", CLIENT_318, lb.url, "spread/run/artifacts", str(source)]
    done = subprocess.run(
        [*argv, str(workdir / "back")], capture_output=True, text=True, timeout=600, check=True
    )
    client = json.loads(done.stdout.strip().splitlines()[-1])
    parts = {k: v - parts_before[k] for k, v in served_by(replicas, "/mpu/part/").items()}
    ranges = {k: v - ranges_before[k] for k, v in served_by(replicas, "/signed/").items()}
    return {
        "client_mlflow": client["mlflow"],
        "size": source.stat().st_size,
        "sha256_equal": client["sha256"] == digest,
        "parts_per_replica": parts,
        "ranges_per_replica": ranges,
    }


def drain_by_ready(lb: Balancer, name: str, process: ManagedProcess) -> dict:
    """SIGTERM alone (no runtime-API drain): the health check takes the replica out."""
    started = time.monotonic()
    os.killpg(os.getpgid(process.pid), signal.SIGTERM)
    out = lb.wait_status(name, "DOWN", timeout=20)
    process.proc.wait(timeout=SHUTDOWN_TIMEOUT + 15)
    exited = time.monotonic() - started
    process.start()
    back = lb.wait_status(name, "UP", timeout=30)
    return {
        "out_of_rotation_s": round(out, 2),
        "exited_s": round(exited, 2),
        "back_up_s": round(back, 2),
    }


def rolling_restart(
    lb: Balancer, replicas: dict[str, ManagedProcess], workload: Workload, pause: float
) -> list[dict]:
    steps = []
    time.sleep(pause)
    for name, process in replicas.items():
        drained = lb.drain(name)
        started = time.monotonic()
        process.stop()  # SIGTERM: the gateway's own drain, then exit
        stopped = time.monotonic() - started
        process.start()
        lb.ready(name)
        up = lb.wait_status(name, "UP", timeout=30)
        steps.append(
            {
                "replica": name,
                "drained_s": round(drained, 2),
                "stopped_s": round(stopped, 2),
                "up_s": round(up, 2),
                "ops_so_far": workload.tally.snapshot(),
            }
        )
        time.sleep(pause)
    return steps


def kill_nine(lb: Balancer, name: str, process: ManagedProcess, pause: float) -> dict:
    """SIGKILL while the replica holds sessions (up to 10 s of waiting for some), so that the
    kill meets requests in flight rather than an idle moment."""
    time.sleep(pause)
    deadline = time.monotonic() + 10
    while int(lb.servers()[name]["scur"] or 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    in_flight = int(lb.servers()[name]["scur"] or 0)
    started = time.monotonic()
    os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    process.proc.wait(timeout=15)
    down = lb.wait_status(name, "DOWN", timeout=20)
    process.start()
    lb.wait_status(name, "UP", timeout=30)
    recovered = time.monotonic() - started
    time.sleep(pause)
    return {
        "sessions_at_kill": in_flight,
        "marked_down_s": round(down, 2),
        "recovered_s": round(recovered, 2),
    }


def lb_counters(lb: Balancer) -> dict:
    """What the balancer saw go wrong per replica (its retries and 5xx), over the whole run."""
    keys = ("econ", "eresp", "wretr", "wredis", "hrsp_5xx")
    return {name: {k: row.get(k) for k in keys} for name, row in lb.servers().items()}


def tally(workload: Workload) -> dict:
    t = workload.tally
    return {"ok": dict(t.ok), "failed": dict(t.failed), "errors": t.errors[:10]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-step", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=3)
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-replicas-"))
    seaweed = SeaweedS3(workdir / "s3", [ADMIN]).start()
    running: list[ManagedProcess] = [seaweed]
    report: dict = {"workdir": str(workdir)}
    try:
        s3 = admin_client(seaweed.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        ports = {f"gw{n}": free_port() for n in (1, 2, 3)}
        lb = Balancer(workdir, ports)
        replicas = {
            name: replica(workdir, name, port, seaweed, lb.url) for name, port in ports.items()
        }
        for process in replicas.values():
            running.append(process.start())
        running.append(lb.start())
        lb.wait_status("gw3", "UP")
        configure(lb.url)
        report["spread"] = spread(lb, replicas, workdir / "spread")
        report["ready_check"] = drain_by_ready(lb, "gw3", replicas["gw3"])

        rolling = Workload(lb.url, "rolling/run/artifacts", workdir / "rolling", options.workers)
        report["rolling_steps"] = rolling_restart(
            lb, replicas, rolling.start(), options.seconds_per_step
        )
        rolling.stop()
        report["rolling"] = tally(rolling)

        killed = Workload(lb.url, "killed/run/artifacts", workdir / "killed", options.workers)
        killed.start()
        report["kill_9"] = kill_nine(lb, "gw2", replicas["gw2"], options.seconds_per_step)
        killed.stop()
        report["kill_9"].update(tally(killed))

        report["dangling_before_cleanup"] = dangling_uploads(s3, BUCKET)
        time.sleep(CLEANUP_AGE + 2 * CLEANUP_INTERVAL)
        report["dangling_after_cleanup"] = dangling_uploads(s3, BUCKET)
        objects, bad = partial_objects(s3, BUCKET, f"{PREFIX}/")
        report["objects"], report["partial_objects"] = objects, bad
        report["lb_ok"] = requests.get(f"{lb.url}/lb-health", timeout=5).ok
        report["lb_counters"] = lb_counters(lb)
    finally:
        for process in reversed(running):
            process.stop()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    result = main()
    failed = sum(result["rolling"]["failed"].values())
    sys.exit(1 if failed or result["partial_objects"] or result["dangling_after_cleanup"] else 0)
