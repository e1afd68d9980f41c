"""MLflow's multipart routes on every destination of `destinations.BACKENDS`: where the store
declares multipart (`/server-info` says so), parts sent out of order through the links
`mpu/create` hands out become one file with equal SHA-256 on both ends, ranged reads of it
work, and complete or abort leave nothing else in the backend; where it does not, `mpu/create`
answers MLflow's 501 and nothing is stored."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
import requests

from tests.conformance.destinations import Destination
from tests.helpers.multipart import put_part

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
MPU = "api/2.0/mlflow-artifacts/mpu"
TIMEOUT = 60


def mpu(dest: Destination, action: str, directory: str, **body) -> requests.Response:
    return requests.post(f"{dest.gateway.url}/{MPU}/{action}/{directory}", json=body, timeout=60)


def declares_multipart(dest: Destination) -> bool:
    info = requests.get(f"{dest.gateway.url}/api/3.0/mlflow/server-info", timeout=TIMEOUT)
    return info.json()["multipart_uploads_enabled"] is True


def under(entries: set[str], directory: str) -> set[str]:
    return {e for e in entries if e.startswith(f"{directory}/") or "gateway-upload" in e}


def test_parts_out_of_order_make_one_file_and_nothing_else(destination):
    directory = f"{uuid.uuid4().int % 10**9}/r/artifacts"
    first, second = os.urandom(5 * MIB), os.urandom(MIB + 3)
    created = mpu(destination, "create", directory, path="/home/me/model.bin", num_parts=2)
    if not declares_multipart(destination):
        assert created.status_code == 501, created.text
        assert under(destination.raw.entries(), directory) == set()
        return
    assert created.status_code == 200, created.text
    upload, credentials = created.json()["upload_id"], created.json()["credentials"]
    etags = {}
    for credential, data in reversed(list(zip(credentials, (first, second), strict=True))):
        resp = put_part(credential, data)
        assert resp.status_code == 200, resp.text
        etags[credential["part_number"]] = resp.headers["ETag"]
    path = f"{directory}/model.bin"  # MLflow names the file by the local path's basename
    assert destination.raw.read(path) is None  # nothing visible before complete
    parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2)]
    done = mpu(
        destination, "complete", directory, path="/home/me/model.bin", upload_id=upload, parts=parts
    )
    assert done.status_code == 200, done.text
    whole = first + second
    assert destination.raw.sha256(path) == hashlib.sha256(whole).hexdigest()
    url = f"{destination.gateway.api}/{path}"
    ranged = requests.get(url, headers={"Range": f"bytes={5 * MIB - 2}-{5 * MIB + 1}"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == whole[5 * MIB - 2 : 5 * MIB + 2]
    got = requests.get(url, timeout=TIMEOUT)
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(whole).hexdigest()
    leftovers = under(destination.raw.entries(), directory) - {path}
    assert not {e for e in leftovers if not e.endswith("/")}  # directory markers aside


def test_abort_leaves_nothing(destination):
    directory = f"{uuid.uuid4().int % 10**9}/r/artifacts"
    if not declares_multipart(destination):
        refused = mpu(destination, "abort", directory, path="/x/gone.bin", upload_id="0" * 32)
        assert refused.status_code == 501, refused.text
        return
    created = mpu(destination, "create", directory, path="gone.bin", num_parts=2)
    assert created.status_code == 200, created.text
    upload = created.json()["upload_id"]
    assert put_part(created.json()["credentials"][0], os.urandom(MIB)).status_code == 200
    aborted = mpu(destination, "abort", directory, path="gone.bin", upload_id=upload)
    assert aborted.status_code == 200, aborted.text
    assert {e for e in under(destination.raw.entries(), directory) if not e.endswith("/")} == set()
    gone = requests.get(f"{destination.gateway.api}/{directory}/gone.bin", timeout=TIMEOUT)
    assert gone.status_code == 404
