"""What `/server-info` will advertise, and a destination without multipart saying so in
MLflow's words, so that the stock client falls back to single requests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import requests
from aiohttp.test_utils import TestServer
from mlflow.exceptions import (
    _UnsupportedMultipartDownloadException,
    _UnsupportedMultipartUploadException,
)
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from gateway.config import load_settings
from gateway.http.advertised import (
    MODEL_PRESIGNED_DOWNLOADS,
    MULTIPART_DOWNLOADS,
    MULTIPART_UPLOADS,
    PRESIGNED_ONLY,
    SERVING,
    artifact_capabilities,
)
from gateway.http.app import build_app
from gateway.routing.build import build_destinations
from gateway.routing.destinations import Destinations
from gateway.stores import ArtifactStore
from gateway.stores.local import LocalFiles
from tests.helpers.multipart import MIB


class WithoutMultipart(ArtifactStore):
    """A destination that cannot take parts or serve ranges, as some pyarrow.fs stores won't:
    local files behind none of the capability interfaces (gateway.stores.capabilities)."""

    def __init__(self, uri: str, chunk_size: int) -> None:
        super().__init__(uri)
        self._files = LocalFiles(uri, chunk_size)

    async def start(self) -> None:
        await self._files.start()

    async def stat(self, path):
        return await self._files.stat(path)

    async def open(self, path, byte_range):
        return await self._files.open(path, byte_range)

    async def write(self, path, body, size_hint=None):
        await self._files.write(path, body, size_hint)

    async def list(self, path):
        return await self._files.list(path)

    async def delete(self, path):
        await self._files.delete(path)


def test_local_and_s3_destinations_advertise_both(tmp_path):
    for destination in (str(tmp_path / "root"), "s3://bucket/prefix"):
        settings = load_settings(["--artifacts-destination", destination])
        app = build_app(settings, build_destinations(settings))
        assert artifact_capabilities(app) == {
            MULTIPART_UPLOADS: True,
            MULTIPART_DOWNLOADS: True,
            SERVING: True,
            PRESIGNED_ONLY: False,
            MODEL_PRESIGNED_DOWNLOADS: True,
        }


def test_without_multipart_the_stock_client_falls_back(tmp_path, monkeypatch):
    root = tmp_path / "root"
    settings = load_settings(["--artifacts-destination", str(root)])
    app = build_app(settings, Destinations(WithoutMultipart(str(root), settings.chunk_size)))
    capabilities = artifact_capabilities(app)
    assert capabilities[MULTIPART_UPLOADS] is capabilities[MULTIPART_DOWNLOADS] is False
    assert capabilities[MODEL_PRESIGNED_DOWNLOADS] is False
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(3 * MIB))
    (tmp_path / "back").mkdir()

    async def scenario() -> tuple[requests.Response, requests.Response, str]:
        async with TestServer(app, host="127.0.0.1") as server:
            url = str(server.make_url("")).rstrip("/")
            for name, value in {
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
                "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1",
                "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            }.items():
                monkeypatch.setenv(name, value)
            api = f"{url}/api/2.0/mlflow-artifacts"
            create = await asyncio.to_thread(
                requests.post, f"{api}/mpu/create/1", json={"path": "a", "num_parts": 1}
            )
            presigned = await asyncio.to_thread(requests.get, f"{api}/presigned/1/a")
            repo = MlflowArtifactsRepository(f"mlflow-artifacts://{server.host}:{server.port}/1")
            await asyncio.to_thread(repo.log_artifact, str(source))
            local = await asyncio.to_thread(
                repo.download_artifacts, "model.bin", str(tmp_path / "back")
            )
            return create, presigned, local

    create, presigned, local = asyncio.run(scenario())
    assert create.status_code == 501 and create.json() == {
        "error_code": "NOT_IMPLEMENTED",
        "message": _UnsupportedMultipartUploadException.MESSAGE,
    }
    assert presigned.status_code == 501
    assert presigned.json()["message"] == _UnsupportedMultipartDownloadException.MESSAGE
    assert (root / "1" / "model.bin").read_bytes() == source.read_bytes()
    assert Path(local).read_bytes() == source.read_bytes()
    assert not (root / ".gateway-uploads").exists()
