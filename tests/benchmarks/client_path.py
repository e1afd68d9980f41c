"""The path real users take: MLflow's own HttpArtifactRepository, or boto3's transfer manager.

Synchronous by nature (requests / boto3 threads), so workloads run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from tests.benchmarks.clients import BLOCK, CHUNK
from tests.benchmarks.servers import S3Info, Server

CLIENT_PREFIX = "bench/client"
MLFLOW_ENV = {
    # Fail loudly instead of retrying a broken server behind our back, and bound every request.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
}


def make_file(path: Path, size: int) -> Path:
    """The upload source: written once per run, reused by every target and repetition."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for offset in range(0, size, CHUNK):
            out.write(BLOCK[: min(CHUNK, size - offset)])
    return path


def _check(path: Path, expected: int) -> None:
    size = path.stat().st_size
    if size != expected:
        raise RuntimeError(f"downloaded {path.name}: {size} bytes, expected {expected}")


@contextlib.contextmanager
def mlflow_environment(values: dict[str, str]) -> Iterator[None]:
    """MLflow reads its settings from the environment: set them for the block, then restore."""
    values = {**MLFLOW_ENV, **values}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _mlflow_roundtrip(server: Server, source: Path, dst_dir: Path) -> tuple[float, float]:
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    with mlflow_environment({"MLFLOW_TRACKING_URI": server.base_url}):
        repo = HttpArtifactRepository(f"{server.artifacts_url}/{CLIENT_PREFIX}")
        start = time.perf_counter()
        repo.log_artifact(str(source))
        uploaded = time.perf_counter()
        local = repo.download_artifacts(source.name, str(dst_dir))
        downloaded = time.perf_counter()
    _check(Path(local), source.stat().st_size)
    return uploaded - start, downloaded - uploaded


def _boto3_roundtrip(s3: S3Info, source: Path, dst_dir: Path) -> tuple[float, float]:
    client = s3.boto3_client()
    key = f"direct/{CLIENT_PREFIX}/{source.name}"
    local = dst_dir / source.name
    start = time.perf_counter()
    client.upload_file(str(source), s3.bucket, key)
    uploaded = time.perf_counter()
    client.download_file(s3.bucket, key, str(local))
    downloaded = time.perf_counter()
    _check(local, source.stat().st_size)
    return uploaded - start, downloaded - uploaded


def roundtrip(
    target: str, s3: S3Info, servers: dict[str, Server], source: Path, dst_dir: Path
) -> tuple[float, float]:
    """(upload seconds, download seconds) of `source` through `target`; the copy is removed."""
    shutil.rmtree(dst_dir, ignore_errors=True)
    dst_dir.mkdir(parents=True)
    try:
        if target == "direct":
            return _boto3_roundtrip(s3, source, dst_dir)
        return _mlflow_roundtrip(servers[target], source, dst_dir)
    finally:
        shutil.rmtree(dst_dir, ignore_errors=True)
