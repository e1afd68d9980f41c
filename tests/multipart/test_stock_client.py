"""The stock MLflow client's multipart upload and ranged parallel download through the gateway."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from tests.helpers.memory import body, peak_rss_mib
from tests.helpers.multipart import MIB, create, mpu
from tests.helpers.stack import BUCKET, Gateway, clean_env, own_s3_gateway, s3_env, start_gateway

pytestmark = pytest.mark.slow

BIG = 201 * MIB + 123
# One part is streamed, never held: a gateway that buffered a 200 MiB part would pass this.
RSS_LIMIT_MIB = 160


@pytest.fixture
def client_env(monkeypatch):
    """Forces the multipart paths without /server-info, as the issue's users would."""

    def configure(gw: Gateway, upload_chunk: int, download_chunk: int) -> None:
        for name, value in {
            "MLFLOW_TRACKING_URI": gw.url,
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(upload_chunk),
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1",
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
            "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(download_chunk),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        }.items():
            monkeypatch.setenv(name, value)

    return configure


@pytest.fixture
def seen(monkeypatch) -> dict[str, list]:
    """What the real client received from the gateway, recorded on its way through."""
    record: dict[str, list] = {"created": [], "presigned": []}
    create_upload = HttpArtifactRepository.create_multipart_upload
    presigned_url = HttpArtifactRepository._get_presigned_download_url

    def recording_create(self, *args, **kwargs):
        record["created"].append(create_upload(self, *args, **kwargs))
        return record["created"][-1]

    def recording_presigned(self, *args, **kwargs):
        record["presigned"].append(presigned_url(self, *args, **kwargs))
        return record["presigned"][-1]

    monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", recording_create)
    monkeypatch.setattr(HttpArtifactRepository, "_get_presigned_download_url", recording_presigned)
    return record


def random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for block in body(size, digest):
            file.write(block)
    return digest.hexdigest()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def repository(gw: Gateway, run_root: str) -> MlflowArtifactsRepository:
    return MlflowArtifactsRepository(
        f"mlflow-artifacts://{gw.url.removeprefix('http://')}/{run_root}"
    )


@pytest.fixture(scope="module")
def fresh_s3_gateway(seaweed, tmp_path_factory) -> Iterator[Gateway]:
    """Its own process, so its peak RSS covers multipart traffic only; no configured secret."""
    with own_s3_gateway(seaweed, tmp_path_factory.mktemp("fresh-s3"), "fresh") as gateway:
        yield gateway


@pytest.mark.perf  # peak RSS under RSS_LIMIT_MIB, set from measurements
def test_stock_client_moves_200_mib_in_parallel_parts_and_ranges(
    fresh_s3_gateway, client_env, seen, s3, exp, tmp_path, measurements
):
    gw = fresh_s3_gateway
    client_env(gw, upload_chunk=8 * MIB, download_chunk=16 * MIB)
    source = tmp_path / "weights.bin"
    digest = random_file(source, BIG)
    run_root = f"{exp}/0123abcd/artifacts"
    repo = repository(gw, run_root)
    repo.log_artifact(str(source), "model")

    (created,) = seen["created"]
    assert len(created.credentials) == -(-BIG // (8 * MIB)) == 26
    for credential in created.credentials:
        assert credential.url.startswith(f"{gw.url}/api/2.0/mlflow-artifacts/mpu/part/")
    head = s3.head_object(Bucket=BUCKET, Key=gw.key(f"{run_root}/model/weights.bin"))
    assert head["ContentLength"] == BIG and head["ETag"].endswith('-26"')

    (tmp_path / "out").mkdir()
    local = repo.download_artifacts("model/weights.bin", dst_path=str(tmp_path / "out"))
    (presigned,) = seen["presigned"]
    assert presigned.file_size == BIG
    assert presigned.url.startswith(f"{gw.url}/api/2.0/mlflow-artifacts/signed/")
    assert sha256_of(local) == digest

    peak = peak_rss_mib(gw.process.pid)
    measurements.append(f"s3 gateway peak RSS after 201 MiB in 26 parts + ranges: {peak:.0f} MiB")
    assert peak < RSS_LIMIT_MIB
    assert "generated for this process" in gw.process.log_text()
    requests.delete(f"{gw.api}/{exp}", timeout=120).raise_for_status()


class _Sized:
    """A request body of known length, produced as it is sent (requests sends Content-Length)."""

    def __init__(self, size: int) -> None:
        self.digest = hashlib.sha256()
        self._blocks = body(size, self.digest)
        self._size = size
        self._pending = b""

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        if not self._pending:
            self._pending = next(self._blocks, b"")
        piece, self._pending = self._pending[:n], self._pending[n:]
        return piece


@pytest.mark.perf  # peak RSS under RSS_LIMIT_MIB, set from measurements
def test_one_200_mib_part_streams_in_bounded_memory(fresh_s3_gateway, s3, exp, measurements):
    gw = fresh_s3_gateway
    created = create(gw, exp, "one.bin", 1)
    source = _Sized(200 * MIB)
    resp = requests.put(created["credentials"][0]["url"], data=source, timeout=600)
    assert resp.status_code == 200, resp.text
    parts = [{"part_number": 1, "etag": resp.headers["ETag"]}]
    mpu(gw, "complete", exp, path="one.bin", upload_id=created["upload_id"], parts=parts)
    stored = s3.get_object(Bucket=BUCKET, Key=gw.key(f"{exp}/one.bin"))["Body"]
    received = hashlib.sha256()
    for block in iter(lambda: stored.read(4 * MIB), b""):
        received.update(block)
    assert received.hexdigest() == source.digest.hexdigest()
    peak = peak_rss_mib(gw.process.pid)
    measurements.append(f"s3 gateway peak RSS after one 200 MiB part: {peak:.0f} MiB")
    assert peak < RSS_LIMIT_MIB
    requests.delete(f"{gw.api}/{exp}", timeout=120).raise_for_status()


def test_stock_client_round_trip_on_both_destinations(replicas, client_env, seen, exp, tmp_path):
    gw = replicas.b  # hands out links to replica a
    client_env(gw, upload_chunk=5 * MIB, download_chunk=4 * MIB)
    source = tmp_path / "model.pkl"
    digest = random_file(source, 17 * MIB + 3)
    repo = repository(gw, f"{exp}/run/artifacts")
    repo.log_artifact(str(source))
    assert [f.path for f in repo.list_artifacts()] == ["model.pkl"]
    (created,) = seen["created"]
    assert all(c.url.startswith(replicas.a.url) for c in created.credentials)
    (tmp_path / "back").mkdir()
    local = repo.download_artifacts("model.pkl", dst_path=str(tmp_path / "back"))
    assert seen["presigned"][0].file_size == 17 * MIB + 3
    assert sha256_of(local) == digest
    repo.delete_artifacts()


@pytest.fixture(scope="module", params=["local", "s3"])
def direct_gateway(request, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp(f"direct-{request.param}")
    if request.param == "s3":
        env = clean_env(**s3_env(request.getfixturevalue("seaweed").endpoint))
        target, kind = f"s3://{BUCKET}/direct", {"prefix": "direct"}
    else:
        env, target = clean_env(), str(workdir / "mlartifacts")
        kind = {"root": workdir / "mlartifacts"}
    args = ["--artifacts-destination", target, "--multipart.direct"]
    process, url = start_gateway(workdir, args, env)
    try:
        yield Gateway(process, url, request.param, **kind)
    finally:
        process.stop()


def test_direct_mode_hands_out_bucket_urls_where_there_is_a_bucket(
    direct_gateway, seaweed, client_env, seen, exp, tmp_path
):
    gw = direct_gateway
    client_env(gw, upload_chunk=5 * MIB, download_chunk=4 * MIB)
    source = tmp_path / "direct.bin"
    digest = random_file(source, 11 * MIB)
    repo = repository(gw, f"{exp}/run/artifacts")
    repo.log_artifact(str(source))
    (tmp_path / "back").mkdir()
    local = repo.download_artifacts("direct.bin", dst_path=str(tmp_path / "back"))
    assert sha256_of(local) == digest
    (created,), (presigned,) = seen["created"], seen["presigned"]
    expected = seaweed.endpoint if gw.destination == "s3" else gw.url
    assert all(c.url.startswith(f"{expected}/") for c in created.credentials)
    assert presigned.url.startswith(f"{expected}/")
    if gw.destination == "s3":
        assert "X-Amz-Signature=" in presigned.url and "uploadId=" in created.credentials[0].url
    repo.delete_artifacts()
