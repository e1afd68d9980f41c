"""Topology B: clients talk to a real `mlflow server` for metadata; its artifact root is the
gateway, which runs artifacts-only (no upstream) and is the only process with bucket keys.

The gateway's one route makes logged models and run `release/` directories write-once, for the
stock client's `log_model` test. MLflow 3 gives every `log_model` a new model id, so a new path:
logging a model twice never meets the first one's files. The honest second write is into the
same logged model's location (`MlflowClient.log_model_artifacts`) and, run-scoped, a second
`log_artifact` of the same file into `release/`. The stock HTTP artifact repository raises
`requests.HTTPError` (mlflow/utils/request_utils.py `augmented_raise_for_status`) carrying the
409 and the gateway's JSON, RESOURCE_ALREADY_EXISTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests
import yaml
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

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
# Per route, on the implicit destination: every experiment the tracking server makes here.
ROUTE = {
    "experiments": ["1-999999"],
    "destination": "default",
    "write_once": ["*/models/*", "*/*/artifacts/release/*"],
}


@pytest.fixture(scope="module")
def gw(seaweed, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("topology-b-gw")
    (workdir / "gateway.yaml").write_text(yaml.safe_dump({"routes": [ROUTE]}))
    config = ["--config", str(workdir / "gateway.yaml")]
    with stopping(start_s3_gateway(workdir, seaweed, PREFIX, *config)) as g:
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


class Echo(PythonModel):
    def predict(self, context, model_input: list[int], params=None) -> list[int]:
        return model_input


def _refused(exc: pytest.ExceptionInfo[requests.HTTPError]) -> None:
    assert exc.value.response.status_code == 409
    body = exc.value.response.json()
    assert body["error_code"] == "RESOURCE_ALREADY_EXISTS" and "write-once" in body["message"]


def test_log_model_succeeds_once_and_a_second_write_into_it_fails_clearly(
    gw, tracking, s3, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(tracking.url)
    client = MlflowClient(tracking_uri=tracking.url)
    experiment = client.create_experiment("write-once-models")
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
        notes = tmp_path / "notes.txt"
        notes.write_text("v1")
        mlflow.log_artifact(str(notes), "release")
        notes.write_text("v2")
        with pytest.raises(requests.HTTPError) as again:  # run-scoped: release/ is frozen
            mlflow.log_artifact(str(notes), "release")
        _refused(again)
        mlflow.log_artifact(str(notes), "scratch")  # outside the patterns: as before
        mlflow.log_artifact(str(notes), "scratch")
    stored = client.get_logged_model(info.model_id).artifact_location.removeprefix(f"{gw.api}/")
    assert stored == f"{experiment}/models/{info.model_id}/artifacts"
    original = stored_bytes(gw, s3, f"{stored}/MLmodel")
    assert original

    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(requests.HTTPError) as second:
        client.log_model_artifacts(info.model_id, str(forged))
    _refused(second)
    assert stored_bytes(gw, s3, f"{stored}/MLmodel") == original
    assert mlflow.pyfunc.load_model(info.model_uri).predict([1, 2]) == [1, 2]
    release = f"{experiment}/{run.info.run_id}/artifacts/release/notes.txt"
    assert stored_bytes(gw, s3, release) == b"v1"
