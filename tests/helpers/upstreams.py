"""Servers around a gateway in tests: the real MLflow tracking server, an echo server, S3
gateways in front of them, and the stock MLflow client run in its own interpreter.

All listen on 127.0.0.1 on a free port, in their own process group, stopped by their fixture.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from tests.helpers.processes import ManagedProcess, free_port
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import BUCKET, Gateway, clean_env, s3_env, start_gateway

# MLflow would also skip telemetry under pytest; saying so keeps every byte on 127.0.0.1.
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    process: ManagedProcess
    url: str
    workdir: Path


class _Running(Protocol):
    process: ManagedProcess


Running = TypeVar("Running", bound=_Running)


@contextlib.contextmanager
def stopping(started: Running) -> Iterator[Running]:
    """Yields a started server (or gateway) and stops its process group afterwards."""
    try:
        yield started
    finally:
        started.process.stop()


def start_s3_gateway(workdir: Path, seaweed: SeaweedS3, prefix: str, *args: str) -> Gateway:
    """A gateway on `s3://<BUCKET>/<prefix>` in SeaweedFS; `args` add flags such as an upstream."""
    destination = ["--artifacts-destination", f"s3://{BUCKET}/{prefix}", *args]
    process, url = start_gateway(workdir, destination, clean_env(**s3_env(seaweed.endpoint)))
    return Gateway(process, url, "s3", prefix=prefix)


def start_tracking_server(workdir: Path, default_artifact_root: str, **env: str) -> Server:
    """`mlflow server` of this venv on sqlite, `--no-serve-artifacts`, with no bucket keys."""
    return start_mlflow_server(Path(sys.executable), workdir, default_artifact_root, **env)


def start_mlflow_server(
    python: Path,
    workdir: Path,
    default_artifact_root: str,
    *extra: str,
    artifacts_destination: str | None = None,  # --serve-artifacts to it; else --no-serve-artifacts
    **env: str,
) -> Server:
    """`mlflow server` of `python` on sqlite with no bucket keys; `--no-serve-artifacts` unless
    `artifacts_destination` is given."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        *(
            ["--serve-artifacts", "--artifacts-destination", artifacts_destination]
            if artifacts_destination
            else ["--no-serve-artifacts"]
        ),
        "--default-artifact-root",
        default_artifact_root,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        argv,
        f"{url}/health",
        workdir.parent / f"{workdir.name}.log",  # outside workdir: tests inspect workdir
        # No job runner (8 more processes, 23 s to start instead of 8.5): no test submits jobs.
        env=clean_env(**NO_TELEMETRY, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **env),
        cwd=workdir,
        start_timeout=240.0,
    )
    return Server(process.start(), url, workdir)


def start_echo(workdir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "tests.helpers.echo_upstream", str(port)]
    process = ManagedProcess(argv, f"{url}/health", workdir / "echo.log", env=clean_env(), cwd=ROOT)
    return Server(process.start(), url, workdir)


def run_client_flow(
    tracking_uri: str,
    experiment: str,
    model_name: str,
    workdir: Path,
    python: Path = Path(sys.executable),
    **env: str,
) -> dict:
    """tests/helpers/client_flow.py in a fresh interpreter of `python` that knows only the
    tracking URI and `env` (credentials, multipart switches)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=str(ROOT), **NO_TELEMETRY, **env)
    argv = [str(python), "-m", "tests.helpers.client_flow", experiment, model_name, str(workdir)]
    result = subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
