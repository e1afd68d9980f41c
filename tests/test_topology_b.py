"""Topology B: clients talk to a real `mlflow server` for metadata; its artifact root is the
gateway, which runs artifacts-only (no upstream) and is the only process with bucket keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from tests.helpers.client_flow import METRICS, NOTES, PARAMS
from tests.helpers.stack import Gateway
from tests.helpers.storage import stored_bytes
from tests.helpers.upstreams import (
    Server,
    run_client_flow,
    start_s3_gateway,
    start_tracking_server,
    stopping,
)

pytestmark = pytest.mark.slow

PREFIX = "topology-b"


@pytest.fixture(scope="module")
def gw(seaweed, tmp_path_factory) -> Iterator[Gateway]:
    with stopping(start_s3_gateway(tmp_path_factory.mktemp("topology-b-gw"), seaweed, PREFIX)) as g:
        yield g


@pytest.fixture(scope="module")
def tracking(gw, tmp_path_factory) -> Iterator[Server]:
    server = start_tracking_server(tmp_path_factory.mktemp("topology-b") / "tracking", gw.api)
    with stopping(server):
        yield server


def test_stock_client_against_the_tracking_server_stores_bytes_through_the_gateway(
    gw, tracking, s3, tmp_path
):
    flow = run_client_flow(tracking.url, PREFIX, "gateway-model-b", tmp_path)
    assert flow["params"] == PARAMS and flow["metrics"] == METRICS
    assert flow["predicted"] == pytest.approx(flow["expected"])
    assert flow["predicted_registered"] == pytest.approx(flow["expected"])
    assert flow["downloaded"] == NOTES
    run_root = f"{flow['experiment_id']}/{flow['run_id']}/artifacts"
    assert flow["artifact_uri"] == f"{gw.api}/{run_root}"
    assert stored_bytes(gw, s3, f"{run_root}/notes/readme.txt") == NOTES.encode()
    model_root = flow["model_location"].removeprefix(f"{gw.api}/")
    assert stored_bytes(gw, s3, f"{model_root}/MLmodel")
    on_disk = [p for p in tracking.workdir.rglob("*") if p.is_file()]
    assert all(p.name.startswith("mlflow.db") for p in on_disk), on_disk
    # The tracking server's own artifact routes reach the gateway over HTTP for the UI.
    listing = requests.get(
        f"{tracking.url}/ajax-api/2.0/mlflow/artifacts/list",
        params={"run_id": flow["run_id"], "path": "notes"},
        timeout=60,
    )
    assert listing.json()["files"] == [
        {"path": "notes/readme.txt", "is_dir": False, "file_size": len(NOTES)}
    ]


def test_mlflow_artifacts_uri_naming_the_gateway(gw, tracking, s3, tmp_path, monkeypatch):
    """The other URI form: `mlflow-artifacts://<gateway>/...`, resolved by the client itself."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    host = gw.url.removeprefix("http://")
    client = MlflowClient(tracking_uri=tracking.url)
    experiment = client.create_experiment(
        "mlflow-artifacts-form", artifact_location=f"mlflow-artifacts://{host}/form-b"
    )
    run = client.create_run(experiment)
    assert run.info.artifact_uri == f"mlflow-artifacts://{host}/form-b/{run.info.run_id}/artifacts"
    local = tmp_path / "weights.bin"
    local.write_bytes(b"\x00\x01weights" * 1000)
    client.log_artifact(run.info.run_id, str(local), "model")
    assert [f.path for f in client.list_artifacts(run.info.run_id, "model")] == [
        "model/weights.bin"
    ]
    out = tmp_path / "out"
    out.mkdir()
    got = client.download_artifacts(run.info.run_id, "model/weights.bin", str(out))
    assert Path(got).read_bytes() == local.read_bytes()
    stored = f"form-b/{run.info.run_id}/artifacts/model/weights.bin"
    assert stored_bytes(gw, s3, stored) == local.read_bytes()
