"""Presigned-only mode (`--artifacts-presigned-only`) end to end: the stock 3.18.0 client logs and
downloads through deployment A (a real 3.18.0 tracking server, SeaweedFS), and no artifact byte
passes through the gateway: its byte routes answer 3.18's 403, and the links it hands out are
SeaweedFS's own. The client has no bucket keys.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.compat.deployments import (
    PRESIGNED_ONLY_DOWNLOAD,
    SMALL_CHUNKS,
    presigned_files,
    run_script,
)
from tests.helpers.stack import Gateway
from tests.helpers.storage import pending_uploads, stored_bytes
from tests.helpers.upstreams import start_s3_gateway, stopping

pytestmark = pytest.mark.slow

# 3.18's body, beside the message (tests/compat/CONTRACT_3_18.md).
REFUSAL = dict(error_code="PERMISSION_DENIED", sqlstate="KAM00", error_class="PERMISSION_DENIED")
REFUSAL["artifacts_presigned_only"] = True
CLIENT = """
import json, os, sys, mlflow
config = json.loads(sys.argv[1])
mlflow.set_experiment("presigned-only")
with mlflow.start_run() as run:
    mlflow.log_artifact(config["small"])
    mlflow.log_artifact(config["empty"], "empty")
    mlflow.log_artifact(config["big"], "big")
client = mlflow.MlflowClient()
listed = sorted(f.path for d in ("big", "empty") for f in client.list_artifacts(run.info.run_id, d))
out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=config["dst"])
print(json.dumps({"artifact_uri": run.info.artifact_uri, "out": out, "listed": listed}))
"""


@pytest.fixture(scope="module")
def presigned_gateway(tracking_318, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("presigned-only-gateway")
    gw = start_s3_gateway(
        workdir, seaweed, "presigned-only-a", "--tracking-uri", tracking_318.url,
        "--artifacts-presigned-only",
    )  # fmt: skip
    with stopping(gw):
        yield gw


def test_318_client_moves_bytes_on_storage_urls_only(
    client_venvs, presigned_gateway, seaweed, s3, tmp_path
):
    gw = presigned_gateway
    small, big, empty = presigned_files(tmp_path)
    config = {"small": str(small), "big": str(big), "empty": str(empty)}
    config["dst"] = str(tmp_path / "dst")
    program = ["-c", CLIENT]
    answer = run_script(client_venvs["3.18.0"], program, config, gw.url, tmp_path, **SMALL_CHUNKS)
    root = answer["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert stored_bytes(gw, s3, f"{root}/small.txt") == small.read_bytes()
    assert stored_bytes(gw, s3, f"{root}/big/model.bin") == big.read_bytes()
    assert stored_bytes(gw, s3, f"{root}/empty/empty.txt") == b""
    assert not [u["Key"] for u in pending_uploads(s3) if u["Key"].startswith(gw.key(root))]
    assert answer["listed"] == ["big/model.bin", "empty/empty.txt"]
    out = Path(answer["out"])
    assert (out / "small.txt").read_bytes() == small.read_bytes()
    assert (out / "big" / "model.bin").read_bytes() == big.read_bytes()
    assert (out / "empty" / "empty.txt").read_bytes() == b""

    # What the client was told, and what a proxied transfer gets.
    info = requests.get(f"{gw.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["artifacts_presigned_only"] is True and info["artifact_serving_enabled"] is True
    got = requests.get(f"{gw.api}/{root}/small.txt", timeout=30)
    assert got.status_code == 403 and got.json() == REFUSAL | {"message": PRESIGNED_ONLY_DOWNLOAD}
    put = requests.put(f"{gw.api}/{root}/x.txt", data=b"x", timeout=30)
    assert put.status_code == 403 and put.json()["artifacts_presigned_only"] is True
    assert put.json()["message"].startswith("This server requires artifacts to be uploaded")
    assert stored_bytes(gw, s3, f"{root}/x.txt") is None
    link = requests.get(
        f"{gw.url}/api/2.0/mlflow-artifacts/presigned/{root}/small.txt", timeout=30
    ).json()
    assert link["url"].startswith(seaweed.endpoint) and link["file_size"] == 15
    created = requests.post(
        f"{gw.url}/api/2.0/mlflow-artifacts/mpu/create/{root}",
        json={"path": "y.bin", "num_parts": 2},
        timeout=30,
    ).json()
    assert all(c["url"].startswith(seaweed.endpoint) for c in created["credentials"])
    requests.post(
        f"{gw.url}/api/2.0/mlflow-artifacts/mpu/abort/{root}",
        json={"path": "y.bin", "upload_id": created["upload_id"]},
        timeout=30,
    ).raise_for_status()


def test_tracking_routes_refuse_proxied_bytes_and_answer_presigned(presigned_gateway, s3):
    """`get-artifact` and `upload-artifact` 403 as 3.18; `presigned=true` gets a storage URL."""
    gw = presigned_gateway
    api = f"{gw.url}/api/2.0/mlflow"
    run = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}, timeout=30)
    info = run.json()["run"]["info"]
    params = {"run_id": info["run_id"], "path": "a.txt"}
    got = requests.get(f"{gw.url}/get-artifact", params=params, timeout=30)
    assert got.status_code == 403 and got.json()["message"] == PRESIGNED_ONLY_DOWNLOAD
    upload = requests.post(
        f"{gw.url}/ajax-api/2.0/mlflow/upload-artifact", params=params, data=b"x", timeout=30
    )
    assert upload.status_code == 403 and upload.json()["artifacts_presigned_only"] is True
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert stored_bytes(gw, s3, f"{root}/a.txt") is None


def test_zero_parts_gets_one_storage_url_and_an_empty_object(presigned_gateway, seaweed, s3):
    """`num_parts: 0` (an empty file from a client that does not round up as 3.18 does): one
    SeaweedFS part URL, an empty part, `complete`, and no multipart upload left behind."""
    gw = presigned_gateway
    run = requests.post(
        f"{gw.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=30
    )
    root = run.json()["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    mpu = f"{gw.url}/api/2.0/mlflow-artifacts/mpu"
    created = requests.post(
        f"{mpu}/create/{root}", json={"path": "empty.txt", "num_parts": 0}, timeout=30
    )
    assert created.status_code == 200, created.text
    (credential,) = created.json()["credentials"]
    assert credential["part_number"] == 1 and credential["url"].startswith(seaweed.endpoint)
    part = requests.put(credential["url"], data=b"", headers=credential["headers"], timeout=30)
    assert part.status_code == 200, part.text
    body = {"path": "empty.txt", "upload_id": created.json()["upload_id"]}
    body["parts"] = [{"part_number": 1, "etag": part.headers["ETag"]}]
    done = requests.post(f"{mpu}/complete/{root}", json=body, timeout=30)
    assert done.status_code == 200, done.text
    assert stored_bytes(gw, s3, f"{root}/empty.txt") == b""
    assert not [u["Key"] for u in pending_uploads(s3) if u["Key"].startswith(gw.key(root))]


def upload_link(api: str, **body: str) -> requests.Response:
    return requests.post(f"{api}/artifacts/presigned-upload-url", json=body, timeout=30)


def test_presigned_url_routes_sign_on_the_storage(presigned_gateway, seaweed, s3):
    """The tracking API's presigned-upload/download-url, as the 3.18 UI uses them in this mode:
    answered by the gateway with SeaweedFS URLs, for a run and for a logged model."""
    gw = presigned_gateway
    api = f"{gw.url}/api/2.0/mlflow"
    run = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}, timeout=30)
    info = run.json()["run"]["info"]
    upload = upload_link(
        f"{gw.url}/ajax-api/2.0/mlflow", run_id=info["run_id"], path="direct/u.txt"
    )
    assert upload.status_code == 200, upload.text
    assert set(upload.json()) == {"presigned_url", "headers"}
    assert upload.json()["presigned_url"].startswith(seaweed.endpoint)
    put = requests.put(upload.json()["presigned_url"], data=b"straight in", timeout=30)
    assert put.status_code == 200, put.text
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert stored_bytes(gw, s3, f"{root}/direct/u.txt") == b"straight in"
    download, too_long = (
        requests.post(
            f"{api}/artifacts/presigned-download-url",
            json={"run_id": info["run_id"], "path": "direct/u.txt", "expiration": seconds},
            timeout=30,
        )
        for seconds in (60, 604801)
    )
    assert download.status_code == 200, download.text
    assert download.json()["file_size"] == 11
    assert requests.get(download.json()["presigned_url"], timeout=30).content == b"straight in"
    assert too_long.status_code == 400 and "604800" in too_long.json()["message"]
    week = requests.post(
        f"{api}/artifacts/presigned-download-url",
        json={"run_id": info["run_id"], "path": "direct/u.txt", "expiration": 604800},
        timeout=30,
    )  # a week asked for, the gateway's --multipart.url-ttl (3600 s) granted
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(week.json()["presigned_url"]).query)
    assert query["X-Amz-Expires"] == ["3600"], week.text

    model = requests.post(f"{api}/logged-models", json={"experiment_id": "0"}, timeout=30)
    model_info = model.json()["model"]["info"]
    signed = upload_link(api, model_id=model_info["model_id"], path="MLmodel").json()
    requests.put(signed["presigned_url"], data=b"flavors: {}\n", timeout=30).raise_for_status()
    model_root = model_info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert stored_bytes(gw, s3, f"{model_root}/MLmodel") == b"flavors: {}\n"
    files = f"{gw.url}/ajax-api/2.0/mlflow/logged-models/{model_info['model_id']}/artifacts/files"
    params = {"artifact_file_path": "MLmodel"}
    assert requests.get(files, params=params, timeout=30).status_code == 403
    link = requests.get(files, params={**params, "presigned": "true"}, timeout=30).json()
    assert link["url"].startswith(seaweed.endpoint) and link["file_size"] == 12
    assert requests.get(link["url"], timeout=30).content == b"flavors: {}\n"
