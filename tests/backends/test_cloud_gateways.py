"""A gateway on each native cloud store (GCS, Azure) with the stock MLflow client: its multipart
upload (SHA-256 equal on both ends, nothing left beside the object) and `Repr-Digest`."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.conformance.destinations import (
    PyarrowRaw,
    azure_destination,
    gcs_destination,
    start_configured,
)

MIB = 1024 * 1024


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["gcs", "azure"])
def cloud_gateway(request, tmp_path_factory) -> Iterator[tuple[str, PyarrowRaw]]:
    """A gateway on a fresh prefix of the emulator's bucket or container, and a direct view of
    that prefix."""
    prefix = f"stock-{uuid.uuid4().hex[:8]}"
    if request.param == "gcs":
        emulator = request.getfixturevalue("fake_gcs")
        destination = gcs_destination(emulator.url, prefix)
        raw = PyarrowRaw(emulator.filesystem(), f"{GCS_BUCKET}/{prefix}")
    else:
        emulator = request.getfixturevalue("azurite")
        destination = azure_destination(emulator.authority, prefix)
        raw = PyarrowRaw(emulator.filesystem(), f"{AZURE_CONTAINER}/{prefix}")
    process, url = start_configured(tmp_path_factory.mktemp("gateway"), destination)
    try:
        yield url, raw
    finally:
        process.stop()


def test_stock_client_multipart_upload(cloud_gateway, monkeypatch, tmp_path):
    url, raw = cloud_gateway
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
    # Client multipart: parts in any order, the whole body never seen in order: no digest.
    head = requests.head(f"{url}/api/2.0/mlflow-artifacts/artifacts/7/r/model/big.bin", timeout=60)
    assert head.status_code == 200 and "Repr-Digest" not in head.headers


def test_repr_digest_on_get_head_and_ranges(cloud_gateway):
    url, _ = cloud_gateway
    data = os.urandom(5 * MIB + 1)  # Azure: Put Block List; GCS: a resumable upload
    target = f"{url}/api/2.0/mlflow-artifacts/artifacts/8/r/weights.bin"
    assert requests.put(target, data=data, timeout=60).status_code == 200
    wanted = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    assert requests.head(target, timeout=60).headers.get("Repr-Digest") == wanted
    ranged = requests.get(target, headers={"Range": "bytes=0-9"}, timeout=60)
    assert ranged.status_code == 206 and ranged.headers.get("Repr-Digest") == wanted
