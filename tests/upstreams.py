"""Servers that sit behind a gateway in tests: the real MLflow tracking server and an echo server.

Both listen on 127.0.0.1 on a free port, in their own process group, stopped by their fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import clean_env
from tests.processes import ManagedProcess, free_port

# MLflow would also skip telemetry under pytest; saying so keeps every byte on 127.0.0.1.
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    process: ManagedProcess
    url: str
    workdir: Path


def start_tracking_server(workdir: Path, default_artifact_root: str, **env: str) -> Server:
    """`mlflow server` on sqlite, `--no-serve-artifacts`, with no bucket credentials at all."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--no-serve-artifacts",
        "--default-artifact-root",
        default_artifact_root,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    log = workdir.parent / f"{workdir.name}.log"  # outside workdir: the test inspects workdir
    process = ManagedProcess(
        argv,
        f"{url}/health",
        log,
        env=clean_env(**NO_TELEMETRY, **env),
        cwd=workdir,
        start_timeout=240.0,
    )
    return Server(process.start(), url, workdir)


def start_echo(workdir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "tests.echo_upstream", str(port)]
    process = ManagedProcess(argv, f"{url}/health", workdir / "echo.log", env=clean_env(), cwd=ROOT)
    return Server(process.start(), url, workdir)


def run_client_flow(tracking_uri: str, experiment: str, model_name: str, workdir: Path) -> dict:
    """tests/client_flow.py in a fresh interpreter that knows only the tracking URI."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=str(ROOT), **NO_TELEMETRY)
    argv = [sys.executable, "-m", "tests.client_flow", experiment, model_name, str(workdir)]
    result = subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
