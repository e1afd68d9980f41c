"""Servers that sit behind a gateway in tests: the real MLflow tracking server and an echo server.

Both listen on 127.0.0.1 on a free port, in their own process group, stopped by their fixture.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import clean_env
from tests.processes import ManagedProcess, free_port


@dataclass
class Server:
    process: ManagedProcess
    url: str
    workdir: Path


def start_tracking_server(workdir: Path, default_artifact_root: str) -> Server:
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
        argv, f"{url}/health", log, env=clean_env(), cwd=workdir, start_timeout=240.0
    )
    return Server(process.start(), url, workdir)


def start_echo(workdir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "tests.echo_upstream", str(port)]
    root = Path(__file__).resolve().parents[1]
    process = ManagedProcess(argv, f"{url}/health", workdir / "echo.log", env=clean_env(), cwd=root)
    return Server(process.start(), url, workdir)
