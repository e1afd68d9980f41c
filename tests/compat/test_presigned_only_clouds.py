"""Presigned-only mode on GCS (fake-gcs-server, V4 signed URLs) and Azure (Azurite, account
SAS) with the stock 3.18.0 client: it logs a three-part file, a small one and an empty one
(every file as multipart, parts PUT straight to the emulator), then downloads them through
`presigned/` URLs of the emulator; the gateway carries no artifact byte (its byte routes
answer 403). An artifacts-only gateway: 3.18 reads the mode from the gateway's /server-info.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.compat.deployments import SMALL_CHUNKS, presigned_files, run_script
from tests.conformance.destinations import (
    PyarrowRaw,
    azure_destination,
    gcs_destination,
    start_configured,
)
from tests.helpers.gcs_keys import service_account_file

pytestmark = pytest.mark.slow
CLIENT = """
import json, sys
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
answers = []
for config in json.loads(sys.argv[1]):  # one process for both clouds: one mlflow import
    repo = MlflowArtifactsRepository(config["uri"])
    repo.log_artifact(config["big"], "big")
    repo.log_artifact(config["small"])
    repo.log_artifact(config["empty"], "empty")
    out = repo.download_artifacts("", config["dst"])
    answers.append({"out": out, "presigned_only": repo._is_artifacts_presigned_only()})
print(json.dumps(answers))
"""


@dataclass
class Cloud:
    name: str
    url: str  # the gateway's
    emulator: str
    raw: PyarrowRaw


@contextlib.contextmanager
def presigned_only(request, workdir: Path, name: str) -> Iterator[Cloud]:
    """An artifacts-only gateway on a presigned-only destination of that emulator."""
    prefix = f"presigned-{uuid.uuid4().hex[:8]}"
    if name == "gcs":
        server = request.getfixturevalue("fake_gcs")
        key = service_account_file(workdir)
        destination = gcs_destination(server.url, prefix, signing_credentials_file=str(key))
        emulator, raw = server.url, PyarrowRaw(server.filesystem(), f"{GCS_BUCKET}/{prefix}")
    else:
        server = request.getfixturevalue("azurite")
        destination = azure_destination(server.authority, prefix)
        emulator = f"http://{server.authority}"
        raw = PyarrowRaw(server.filesystem(), f"{AZURE_CONTAINER}/{prefix}")
    destination["artifacts_presigned_only"] = True
    process, url = start_configured(workdir, destination, name=f"gateway-{name}")
    try:
        yield Cloud(name, url, emulator, raw)
    finally:
        process.stop()


def test_318_client_moves_bytes_on_storage_urls_only(request, client_venvs, tmp_path):
    small, big, empty = presigned_files(tmp_path)
    root = f"5/{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        clouds = [
            stack.enter_context(presigned_only(request, tmp_path, name))
            for name in ("gcs", "azure")
        ]
        configs = []
        for cloud in clouds:
            (tmp_path / f"dst-{cloud.name}").mkdir()
            host = cloud.url.removeprefix("http://")
            configs.append(
                {"small": str(small), "big": str(big), "empty": str(empty)}
                | {"dst": str(tmp_path / f"dst-{cloud.name}")}
                | {"uri": f"mlflow-artifacts://{host}/{root}"}
            )
        # Each repository's URI names its own gateway; MLFLOW_TRACKING_URI is the first.
        venv, program = client_venvs["3.18.0"], ["-c", CLIENT]
        answers = run_script(venv, program, configs, clouds[0].url, tmp_path, **SMALL_CHUNKS)
        for cloud, answer in zip(clouds, answers, strict=True):
            check(cloud, answer, root, small, big)


def check(cloud: Cloud, answer: dict, root: str, small: Path, big: Path) -> None:
    raw = cloud.raw
    assert answer["presigned_only"] is True, cloud.name
    assert raw.sha256(f"{root}/big/model.bin") == hashlib.sha256(big.read_bytes()).hexdigest()
    assert raw.read(f"{root}/small.txt") == small.read_bytes()
    assert raw.read(f"{root}/empty/empty.txt") == b""
    assert not [e for e in raw.entries() if ".gateway-uploads" in e]  # parts composed, gone
    out = Path(answer["out"])
    assert (out / "big" / "model.bin").read_bytes() == big.read_bytes()
    assert (out / "small.txt").read_bytes() == small.read_bytes()
    assert (out / "empty" / "empty.txt").read_bytes() == b""

    # The links are the emulator's; the gateway's byte routes refuse.
    api = f"{cloud.url}/api/2.0/mlflow-artifacts"
    link = requests.get(f"{api}/presigned/{root}/small.txt", timeout=30).json()
    assert link["url"].startswith(cloud.emulator) and link["file_size"] == 15
    assert requests.get(f"{api}/artifacts/{root}/small.txt", timeout=30).status_code == 403
    assert requests.put(f"{api}/artifacts/{root}/x.txt", data=b"x", timeout=30).status_code == 403
    created = requests.post(
        f"{api}/mpu/create/{root}", json={"path": "y.bin", "num_parts": 2}, timeout=30
    ).json()
    assert all(c["url"].startswith(cloud.emulator) for c in created["credentials"])
    abort = {"path": "y.bin", "upload_id": created["upload_id"]}
    requests.post(f"{api}/mpu/abort/{root}", json=abort, timeout=30).raise_for_status()
