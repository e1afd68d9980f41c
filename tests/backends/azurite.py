"""A real Azure Blob Storage emulator (Azurite, from the npm registry) on 127.0.0.1, and the
pyarrow `AzureFileSystem` that talks to it.

`ensure_azurite()` installs the pinned version once into a cache directory with
`npm install --prefix` (bounded by a timeout, under a file lock, moved into place whole), so a
fresh machine needs only Node.js and npm. Azurite is always started with
`--disableTelemetry`: without it, it sends usage telemetry to Application Insights.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.processes import ManagedProcess, free_port

# 3.35.0 is the newest release that runs on Node.js 20 (3.36 needs 21, 3.37 needs 22).
AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development-account key (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
INSTALL_TIMEOUT = 600.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlflow-artifact-gateway-tests"


def _entry(prefix: Path) -> Path:
    return prefix / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


def node_binary() -> str:
    node = shutil.which("node")
    if not node:
        raise RuntimeError("Azurite needs Node.js: `node` is not on PATH")
    return node


def ensure_azurite(version: str = AZURITE_VERSION, timeout: float = INSTALL_TIMEOUT) -> Path:
    """The `azurite-blob` entry script, installed from the npm registry if missing."""
    prefix = cache_root() / f"azurite-{version}"
    if _entry(prefix).is_file():
        return _entry(prefix)
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("installing Azurite needs npm: `npm` is not on PATH")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".azurite-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be installing the same version
        if _entry(prefix).is_file():
            return _entry(prefix)
        staging = Path(tempfile.mkdtemp(prefix=f".azurite-{version}-", dir=prefix.parent))
        try:
            argv = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund"]
            argv += ["--no-update-notifier", "--no-save", f"azurite@{version}"]
            env = {**os.environ, "npm_config_update_notifier": "false"}
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(
                    f"npm install azurite@{version}: no result in {timeout}s"
                ) from exc
            if done.returncode != 0 or not _entry(staging).is_file():
                raise RuntimeError(
                    f"npm install azurite@{version} failed ({done.returncode}):\n"
                    f"{(done.stdout + done.stderr)[-3000:]}"
                )
            if prefix.exists():  # a half-made directory from an interrupted older layout
                shutil.rmtree(prefix)
            staging.rename(prefix)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return _entry(prefix)


class Azurite(ManagedProcess):
    """`azurite-blob` on a free 127.0.0.1 port with its data in `workdir`, telemetry off."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.authority = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.authority}/{ACCOUNT}"
        self.debug_log = workdir / "azurite-debug.log"
        argv = [
            node_binary(),
            str(ensure_azurite()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            str(workdir / "data"),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--debug",  # Azurite's own log; it records that telemetry stayed off
            str(self.debug_log),
        ]
        super().__init__(argv, self.url, workdir / "azurite.log", stop_grace=3.0)

    def start(self) -> Azurite:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        super().start()
        return self

    def _wait_ready(self) -> None:
        """Azurite has no health route: any HTTP answer (403 without a signature) is ready."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited early:\n{self.log_text()[-3000:]}")
            try:
                with contextlib.closing(urllib.request.urlopen(self.health_url, timeout=2)):
                    return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"azurite not ready after {self.start_timeout}s")

    def telemetry_disabled(self) -> bool:
        """Azurite's debug log says whether it initialised its telemetry client."""
        try:
            text = self.debug_log.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return "enableTelemetry: false" in text and "Telemetry initialize successfully" not in text

    def filesystem(self):
        """Shared Key over plain http to this server; Azurite serves blob and dfs on one port."""
        from pyarrow import fs

        return fs.AzureFileSystem(
            account_name=ACCOUNT,
            account_key=ACCOUNT_KEY,
            blob_storage_authority=self.authority,
            blob_storage_scheme="http",
            dfs_storage_authority=self.authority,
            dfs_storage_scheme="http",
        )

    def create_container(self, name: str) -> None:
        self.filesystem().create_dir(name)
