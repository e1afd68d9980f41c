"""One gateway, experiments routed to S3 (SeaweedFS), GCS (fake-gcs-server), Azure (Azurite)
and a local directory: the stock MLflow client logs, lists and downloads through it, every file
lands in exactly one backend, and each destination's credentials reach only its own backend
(a wrong Azure key fails that destination alone)."""

from __future__ import annotations

import base64
import filecmp
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from tests.backends.azurite import ACCOUNT_KEY
from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.conformance.destinations import PyarrowRaw, azure_destination, gcs_destination
from tests.helpers.processes import ManagedProcess
from tests.helpers.stack import TEAM_A, admin_client, clean_env, start_gateway

pytestmark = pytest.mark.slow

WRONG_KEY = base64.b64encode(b"not the account key, 64 bytes long" + b"." * 29).decode()
# experiment -> destination name
ROUTES = {"1": "team-s3", "2": "vision", "3": "nlp", "4": "archive", "5": "wrongkey"}


@dataclass
class Mixed:
    process: ManagedProcess
    url: str
    config: Path
    archive: Path
    gcs: PyarrowRaw
    azure: PyarrowRaw
    s3: object  # a boto3 client that sees bucket-a

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow-artifacts/artifacts"

    def places(self, marker: str) -> set[str]:
        """Every stored file whose name contains `marker`, named by its backend."""
        found = {f"gcs:{e}" for e in self.gcs.entries() if marker in e and not e.endswith("/")}
        found |= {f"azure:{e}" for e in self.azure.entries() if marker in e and not e.endswith("/")}
        listing = self.s3.list_objects_v2(Bucket="bucket-a", Prefix="mixed/")
        found |= {f"s3:{o['Key']}" for o in listing.get("Contents", []) if marker in o["Key"]}
        found |= {
            f"archive:{p.relative_to(self.archive).as_posix()}"
            for p in self.archive.rglob("*")
            if p.is_file() and marker in p.as_posix()
        }
        return found


@pytest.fixture(scope="module")
def mixed(seaweed, fake_gcs, azurite, tmp_path_factory) -> Iterator[Mixed]:
    workdir = tmp_path_factory.mktemp("mixed")
    key_file = workdir / "azure-key"
    key_file.write_text(ACCOUNT_KEY + "\n")
    secret_file = workdir / "s3-secret"
    secret_file.write_text(TEAM_A.secret_key + "\n")
    nlp = {**azure_destination(azurite.authority, "mixed"), "account_key_file": str(key_file)}
    del nlp["account_key"]
    wrong = azure_destination(azurite.authority, "wrong")
    del wrong["account_key"]  # from GATEWAY_DESTINATIONS__WRONGKEY__ACCOUNT_KEY
    config = {
        "destinations": {
            "team-s3": {
                "uri": "s3://bucket-a/mixed",
                "endpoint_url": seaweed.endpoint,
                "region": "us-east-1",
                "access_key_id": TEAM_A.access_key,
                "secret_access_key_file": str(secret_file),
            },
            "vision": gcs_destination(fake_gcs.url, "mixed"),
            "nlp": nlp,
            "wrongkey": wrong,
            "archive": {"uri": str(workdir / "archive")},
        },
        "routes": [{"experiments": [e], "destination": d} for e, d in ROUTES.items()],
        "default_destination": "archive",
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    env = clean_env(GATEWAY_DESTINATIONS__WRONGKEY__ACCOUNT_KEY=WRONG_KEY)
    process, url = start_gateway(workdir, ["--config", str(path), "--log-level", "debug"], env)
    gcs = PyarrowRaw(fake_gcs.filesystem(), f"{GCS_BUCKET}/mixed")
    azure = PyarrowRaw(azurite.filesystem(), f"{AZURE_CONTAINER}/mixed")
    s3 = admin_client(seaweed.endpoint)
    try:
        yield Mixed(process, url, path, workdir / "archive", gcs, azure, s3)
    finally:
        process.stop()


def make_tree(root: Path) -> Path:
    (root / "model" / "data").mkdir(parents=True)
    (root / "model" / "MLmodel").write_text("flavors: {}\n")
    (root / "model" / "data" / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "model" / "data" / "empty.txt").write_bytes(b"")
    (root / "notes.md").write_text("# notes\n")
    return root


@pytest.mark.parametrize(
    ("experiment", "backend", "prefix"),
    [("2", "gcs", ""), ("3", "azure", ""), ("1", "s3", "mixed/"), ("4", "archive", "")],
    ids=["gcs", "azure", "s3", "local"],
)
def test_stock_client_logs_lists_and_downloads_on_each_backend(
    mixed, monkeypatch, tmp_path, experiment, backend, prefix
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mixed.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    run = uuid.uuid4().hex
    root = f"{experiment}/{run}/artifacts"
    repo = MlflowArtifactsRepository(f"mlflow-artifacts://{mixed.url[7:]}/{root}")
    tree = make_tree(tmp_path / "tree")
    repo.log_artifacts(str(tree), "bundle")
    repo.log_artifact(str(tree / "notes.md"))

    assert [(f.path, f.is_dir) for f in repo.list_artifacts()] == [
        ("bundle", True),
        ("notes.md", False),
    ]
    assert [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("bundle/model")] == [
        ("bundle/model/MLmodel", False, 12),
        ("bundle/model/data", True, None),
    ]
    names = ["bundle/model/MLmodel", "bundle/model/data/weights.bin"]
    names += ["bundle/model/data/empty.txt", "bundle/notes.md", "notes.md"]
    assert mixed.places(run) == {f"{backend}:{prefix}{root}/{name}" for name in names}

    (tmp_path / "out").mkdir()
    out = Path(repo.download_artifacts("bundle", dst_path=str(tmp_path / "out")))
    comparison = filecmp.dircmp(tree, out)
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    assert filecmp.cmp(tree / "model/data/weights.bin", out / "model/data/weights.bin", False)

    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert mixed.places(run) == set()


def test_a_wrong_azure_key_fails_that_destination_alone(mixed):
    target = f"{mixed.api}/5/{uuid.uuid4().hex}/artifacts/a.txt"
    for method, body in (("PUT", b"data"), ("GET", None), ("DELETE", None)):
        resp = requests.request(method, target, data=body, timeout=60)
        assert resp.status_code == 503, (method, resp.text)
        error = resp.json()
        assert error["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "Destination wasbs://artifacts@devstoreaccount1" in error["message"]
        assert "refused the request" in error["message"], error
        for secret in (WRONG_KEY, ACCOUNT_KEY, TEAM_A.secret_key):
            assert secret not in resp.text and secret not in str(resp.headers)
    assert requests.get(mixed.api, params={"path": ""}, timeout=60).status_code == 503
    for experiment in ("1", "2", "3", "4"):  # the same Azurite, the right key: fine
        healthy = f"{mixed.api}/{experiment}/{uuid.uuid4().hex}/artifacts/ok.txt"
        assert requests.put(healthy, data=b"ok", timeout=120).status_code == 200
        assert requests.get(healthy, timeout=120).content == b"ok"
        assert requests.delete(healthy, timeout=120).status_code == 200
    ready = requests.get(f"{mixed.url}/ready", timeout=60)
    assert ready.status_code == 503
    log = mixed.process.log_text()
    for secret in (WRONG_KEY, ACCOUNT_KEY, TEAM_A.secret_key):
        assert secret not in log
    assert "Traceback" not in log


def command(mixed: Mixed, name: str) -> subprocess.CompletedProcess:
    env = clean_env(GATEWAY_DESTINATIONS__WRONGKEY__ACCOUNT_KEY=WRONG_KEY)
    return subprocess.run(
        [sys.executable, "-m", "gateway", name, "--config", str(mixed.config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_routes_and_check_config_show_endpoints_never_keys(mixed, fake_gcs, azurite):
    routes = command(mixed, "routes")
    assert routes.returncode == 0, routes.stderr
    rows = {line.split()[0]: line.split()[1:] for line in routes.stdout.splitlines()[1:]}
    assert rows["2"] == ["vision", "gs://artifacts/mixed", fake_gcs.url]
    assert rows["3"][0] == "nlp" and rows["3"][2] == f"http://{azurite.authority}/devstoreaccount1"
    checked = command(mixed, "check-config")
    assert checked.returncode == 1
    ok = {line.split()[1] for line in checked.stdout.splitlines() if line.startswith("ok")}
    assert ok == {"team-s3", "vision", "nlp", "archive"}
    problems = checked.stderr.strip().splitlines()
    assert len(problems) == 1 and "'wrongkey'" in problems[0], checked.stderr
    for output in (routes.stdout, routes.stderr, checked.stdout, checked.stderr):
        for secret in (WRONG_KEY, ACCOUNT_KEY, TEAM_A.secret_key):
            assert secret not in output


def test_multipart_routes_take_uploads_on_every_destination(mixed):
    """S3, GCS (compose), Azure (Put Block) and local disk all take MLflow's multipart now:
    a create on each experiment's destination hands out part links, and an abort leaves
    nothing behind on any backend."""
    name = f"mpu-{uuid.uuid4().hex}.bin"
    for experiment in ("1", "2", "3", "4"):
        base = f"{mixed.url}/api/2.0/mlflow-artifacts/mpu"
        run = f"{experiment}/r/artifacts"
        body = {"path": name, "num_parts": 2}
        resp = requests.post(f"{base}/create/{run}", json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        created = resp.json()
        assert [c["part_number"] for c in created["credentials"]] == [1, 2]
        body = {"path": name, "upload_id": created["upload_id"]}
        resp = requests.post(f"{base}/abort/{run}", json=body, timeout=60)
        assert resp.status_code == 200, resp.text
    assert mixed.places(name) == set()


def test_an_azure_download_across_an_overwrite_is_cut_off(mixed, azurite):
    """Azure reads are conditional on the ETag stat saw (If-Match on each ranged GET)."""
    path = f"3/{uuid.uuid4().hex}/artifacts/big.bin"
    size = 64 * 1024 * 1024
    old, new = os.urandom(1024 * 1024) * 64, os.urandom(1024 * 1024) * 64
    assert requests.put(f"{mixed.api}/{path}", data=old, timeout=120).status_code == 200
    with requests.get(f"{mixed.api}/{path}", stream=True, timeout=120) as resp:
        assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == size
        chunks = resp.iter_content(1024 * 1024)
        received = [next(chunks)]
        with azurite.filesystem().open_output_stream(f"{AZURE_CONTAINER}/mixed/{path}") as out:
            out.write(new)  # behind the gateway's back
        with pytest.raises(requests.exceptions.RequestException):
            received.extend(chunks)
    assert sum(map(len, received)) < size
    assert requests.delete(f"{mixed.api}/{path}", timeout=120).status_code == 200
