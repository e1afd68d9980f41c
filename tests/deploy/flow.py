"""The stock MLflow client's artifact operations against one gateway URL, each checked by SHA-256.

The client is MLflow's own `MlflowArtifactsRepository` (the project's mlflow), configured by
the environment variables its users set; proxy multipart is forced so that uploads above
MULTIPART_FROM go in parts and downloads of them in parallel ranges.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

MIB = 1024 * 1024
MULTIPART_FROM = 6 * MIB
CHUNK = 5 * MIB


def configure(url: str, retries: int = 7) -> None:
    """The client's environment; MLflow reads these at call time."""
    os.environ.update(
        {
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(CHUNK),
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(MULTIPART_FROM),
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
            "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(4 * MIB),
            "MLFLOW_MULTIPART_DOWNLOAD_MINIMUM_FILE_SIZE": str(MULTIPART_FROM),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        }
    )


def repository(url: str, root: str):
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    return MlflowArtifactsRepository(f"mlflow-artifacts://{url.removeprefix('http://')}/{root}")


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def make_file(directory: Path, size: int, seed: int) -> tuple[Path, str]:
    """A file of `size` random bytes named after its SHA-256, so any stored copy can be checked."""
    directory.mkdir(parents=True, exist_ok=True)
    generator = random.Random(seed)
    data = generator.randbytes(size)
    digest = hashlib.sha256(data).hexdigest()
    path = directory / f"{digest}.bin"
    path.write_bytes(data)
    return path, digest


def round_trip(url: str, root: str, workdir: Path, size: int, seed: int) -> str:
    """Logs, lists and downloads one file; raises AssertionError on any mismatch."""
    workdir.mkdir(parents=True, exist_ok=True)
    source, digest = make_file(workdir, size, seed)
    repo = repository(url, root)
    repo.log_artifact(str(source), "files")
    names = [f.path for f in repo.list_artifacts("files")]
    assert f"files/{source.name}" in names, names
    back = workdir / f"back-{seed}"
    back.mkdir(exist_ok=True)
    local = repo.download_artifacts(f"files/{source.name}", dst_path=str(back))
    assert sha256_of(local) == digest, f"{source.name}: downloaded bytes differ"
    source.unlink()
    Path(local).unlink()
    return digest
