"""The Azure store (gateway.stores.azure) against Azurite: MLflow's multipart on Put Block /
Put Block List, account-key SAS presigning, and the stock MLflow client's multipart upload
through a gateway (SHA-256 equal on both ends)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.capabilities import MultipartUploads, StoragePresigning
from gateway.stores.errors import InvalidRequest, NotFound, UnknownUpload
from tests.backends.fixtures import AZURE_CONTAINER
from tests.conformance.destinations import PyarrowRaw, azure_destination, start_configured

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


class Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int = -1) -> bytes:
        n = len(self.data) if n < 0 else n
        piece, self.data = self.data[:n], self.data[n:]
        return piece


async def read_all(store, path: str) -> bytes:
    async with await store.open(path, None) as download:
        return b"".join([piece async for piece in download.chunks()])


def run(store, scenario) -> None:
    async def wrapped() -> None:
        await store.start()
        try:
            await scenario()
        finally:
            await store.close()

    asyncio.run(wrapped())


@pytest.fixture
def store(azurite, tmp_path: Path):
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    raw = azure_destination(azurite.authority, f"azure-{uuid.uuid4().hex[:8]}")
    return create_store(parse_options(raw), settings)


def test_multipart_is_invisible_until_complete_and_abort_forgets_it(store, azurite):
    assert isinstance(store, MultipartUploads) and isinstance(store, StoragePresigning)
    one, two = os.urandom(5 * MIB), os.urandom(3 * MIB + 7)

    async def scenario() -> None:
        upload = await store.create_upload("m/big.bin")
        second = await store.upload_part("m/big.bin", upload, 2, Bytes(two), len(two))
        first = await store.upload_part("m/big.bin", upload, 1, Bytes(one), len(one))
        assert await store.list_parts("m/big.bin", upload) == [(1, first), (2, second)]
        assert await store.list("m") == []  # nothing visible before the commit
        with pytest.raises(NotFound):
            await store.stat("m/big.bin")
        with pytest.raises(InvalidRequest):
            await store.complete_upload("m/big.bin", upload, [(1, second), (2, second)])
        await store.complete_upload("m/big.bin", upload, [(1, first), (2, second)])
        data = await read_all(store, "m/big.bin")
        assert hashlib.sha256(data).digest() == hashlib.sha256(one + two).digest()
        with pytest.raises(UnknownUpload):  # the commit discarded its marker
            await store.list_parts("m/big.bin", upload)

        aborted = await store.create_upload("m/gone.bin")
        await store.upload_part("m/gone.bin", aborted, 1, Bytes(one), len(one))
        await store.abort_upload("m/gone.bin", aborted)
        for call in (store.list_parts, store.abort_upload):
            with pytest.raises(UnknownUpload):
                await call("m/gone.bin", aborted)
        with pytest.raises(UnknownUpload):
            await store.list_parts("m/big.bin", uuid.uuid4().hex)
        assert [e.name for e in await store.list("m")] == ["big.bin"]
        await store.delete("m")
        assert await store.list("m") == []

    run(store, scenario)


def test_sas_urls_upload_download_and_put_blocks(store):
    data = os.urandom(2 * MIB + 3)

    async def scenario() -> None:
        put = await store.presign_upload("p/one.bin", 60)
        resp = requests.put(put, data=data, headers={"x-ms-blob-type": "BlockBlob"}, timeout=60)
        assert resp.status_code == 201, resp.text
        get = await store.presign_download("p/one.bin", 60)
        ranged = requests.get(get, headers={"Range": "bytes=10-19"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        blocked = requests.put(get, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=60)
        assert blocked.status_code == 403  # a read-only SAS

        upload = await store.create_upload("p/two.bin")  # a part: a SAS Put Block URL
        part = await store.presign_part("p/two.bin", upload, 1, 60)
        resp = requests.put(part, data=data, timeout=60)
        assert resp.status_code == 201 and "ETag" not in resp.headers  # hence parts_without_etags
        [(number, etag)] = await store.list_parts("p/two.bin", upload)
        assert number == 1 and store.parts_without_etags
        await store.complete_upload("p/two.bin", upload, [(1, etag)])
        assert await read_all(store, "p/two.bin") == data
        assert "AccountKey" not in put and "sig=" in put
        await store.delete("p")

    run(store, scenario)


@pytest.fixture(scope="module")
def azure_gateway(azurite, tmp_path_factory) -> Iterator[tuple[str, PyarrowRaw]]:
    workdir = tmp_path_factory.mktemp("azure-gateway")
    prefix = f"stock-{uuid.uuid4().hex[:8]}"
    process, url = start_configured(workdir, azure_destination(azurite.authority, prefix))
    try:
        yield url, PyarrowRaw(azurite.filesystem(), f"{AZURE_CONTAINER}/{prefix}")
    finally:
        process.stop()


def test_stock_client_multipart_upload_through_the_gateway(azure_gateway, monkeypatch, tmp_path):
    url, raw = azure_gateway
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
    (tmp_path / "out").mkdir()
    got = repo.download_artifacts("model/big.bin", str(tmp_path / "out"))
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
