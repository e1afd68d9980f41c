"""Write-once paths on local disk and SeaweedFS: concurrent writers, one winner; overwrite and
delete refused with 409 in MLflow's shape; files outside the patterns behave as before."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import BUCKET, clean_env, s3_env, start_gateway

pytestmark = pytest.mark.slow  # a gateway process and the session's SeaweedFS

MIB = 1024 * 1024
API = "/api/2.0/mlflow-artifacts/artifacts"
PATTERNS = ["*/models/*", "2/frozen/"]


@pytest.fixture(scope="module")
def base(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Experiment 1 on local disk, every other one on S3, both write-once inside PATTERNS."""
    workdir: Path = tmp_path_factory.mktemp("write-once")
    config = {
        "destinations": {
            "disk": {"uri": str(workdir / "artifacts"), "write_once": PATTERNS},
            "bucket": {
                "uri": f"s3://{BUCKET}/write-once",
                "endpoint_url": seaweed.endpoint,
                "region": "us-east-1",
                "write_once": PATTERNS,
            },
        },
        "routes": [{"experiments": ["1"], "destination": "disk"}],
        "default_destination": "bucket",
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["--config", str(path), "--s3.part-size", str(5 * MIB)]
    process, url = start_gateway(workdir, args, clean_env(**s3_env(seaweed.endpoint)))
    try:
        yield url + API
    finally:
        process.stop()


@pytest.fixture(params=["1", "2"], ids=["local", "s3"])
def exp_dir(request: pytest.FixtureRequest) -> str:
    return request.param


# Not S3 multipart: SeaweedFS checks CompleteMultipartUpload's If-None-Match without a lock,
# so two concurrent completions can both succeed there (docs/integrity.md); the sequential
# case is `test_a_multipart_upload_cannot_complete_over_a_write_once_file`.
@pytest.mark.parametrize(
    ("exp_dir", "size"),
    [("1", 100), ("1", 6 * MIB), ("2", 100)],
    ids=["local-single", "local-multipart", "s3-single"],
)
def test_concurrent_writers_one_winner(base: str, exp_dir: str, size: int) -> None:
    url = f"{base}/{exp_dir}/models/m-{size}/artifacts/model.pkl"
    bodies = [os.urandom(size) for _ in range(6)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: requests.put(url, data=b, timeout=60), bodies))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * (len(bodies) - 1), [a.text for a in answers]
    winner = bodies[[a.status_code for a in answers].index(200)]
    assert requests.get(url, timeout=60).content == winner
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "write-once" in refused["message"]


def test_a_multipart_upload_cannot_complete_over_a_write_once_file(base: str, exp_dir: str) -> None:
    url = f"{base}/{exp_dir}/models/m-seq/artifacts/model.pkl"
    first, second = os.urandom(6 * MIB), os.urandom(6 * MIB)
    assert requests.put(url, data=first, timeout=60).status_code == 200
    resp = requests.put(url, data=second, timeout=60)
    assert resp.status_code == 409 and resp.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert requests.get(url, timeout=60).content == first


def test_delete_is_refused_inside_and_allowed_outside(base: str, exp_dir: str) -> None:
    inside = f"{base}/{exp_dir}/models/m-del/artifacts/MLmodel"
    outside = f"{base}/{exp_dir}/runs/r/artifacts/notes.txt"
    for url in (inside, outside):
        assert requests.put(url, data=b"x", timeout=60).status_code == 200
    for target in (inside, f"{base}/{exp_dir}/models/m-del"):
        resp = requests.delete(target, timeout=60)
        assert resp.status_code == 409 and resp.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert requests.get(inside, timeout=60).content == b"x"
    assert requests.put(outside, data=b"y", timeout=60).status_code == 200  # overwrite: fine
    assert requests.delete(outside, timeout=60).status_code == 200


def test_a_prefix_pattern(base: str) -> None:
    url = f"{base}/2/frozen/data.csv"  # "2/frozen/": a prefix of paths in the destination
    assert requests.put(url, data=b"a", timeout=60).status_code == 200
    assert requests.put(url, data=b"b", timeout=60).status_code == 409
