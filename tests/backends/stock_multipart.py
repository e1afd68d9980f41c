"""The stock MLflow client's multipart upload through a gateway on one cloud destination: one
scenario for every native store that offers MLflow's multipart (SHA-256 equal on both ends,
nothing left beside the object)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from tests.conformance.destinations import PyarrowRaw, start_configured

MIB = 1024 * 1024


@contextmanager
def gateway_on(
    workdir: Path, destination: Callable[[str], dict], raw: Callable[[str], PyarrowRaw]
) -> Iterator[tuple[str, PyarrowRaw]]:
    """A gateway on `destination(prefix)` for a fresh prefix, and a direct view of that prefix."""
    prefix = f"stock-{uuid.uuid4().hex[:8]}"
    process, url = start_configured(workdir, destination(prefix))
    try:
        yield url, raw(prefix)
    finally:
        process.stop()


def check_stock_multipart(
    url: str, raw: PyarrowRaw, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MIB),
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    data = os.urandom(17 * MIB + 5)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    info = requests.get(f"{url}/api/3.0/mlflow/server-info", timeout=60).json()
    assert info["multipart_uploads_enabled"] is True
    repo = MlflowArtifactsRepository(f"mlflow-artifacts://{url.removeprefix('http://')}/7/r")
    repo.log_artifact(str(local), "model")
    assert raw.sha256("7/r/model/big.bin") == hashlib.sha256(data).hexdigest()
    files = {entry for entry in raw.entries() if not entry.endswith("/")}  # Azurite lists dirs
    assert files == {"7/r/model/big.bin"}  # parts, markers and links are gone
    (tmp_path / "out").mkdir()
    got = repo.download_artifacts("model/big.bin", str(tmp_path / "out"))
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
