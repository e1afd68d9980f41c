"""Topology A: clients know only the gateway; metadata goes through to a real `mlflow server`
that runs with `--no-serve-artifacts`, holds no bucket keys and never sees an artifact byte.

The last test stops the tracking server, so it stays last in this module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from gateway.http.advertised import FIELDS
from gateway.http.routes.health import READY_REUSE
from tests.helpers.client_flow import METRICS, NOTES, PARAMS, TAGS
from tests.helpers.stack import BUCKET, Gateway
from tests.helpers.storage import stored_bytes
from tests.helpers.upstreams import (
    Server,
    run_client_flow,
    start_s3_gateway,
    start_tracking_server,
    stopping,
)

pytestmark = pytest.mark.slow

PREFIX = "topology-a"
MODEL = "gateway-model-a"
API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Iterator[Server]:
    # The operator lets experiments name a location on the gateway by URL (tested below).
    server = start_tracking_server(
        tmp_path_factory.mktemp("topology-a") / "tracking",
        "mlflow-artifacts:/",
        MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES="http,mlflow-artifacts",
    )
    with stopping(server):
        yield server


@pytest.fixture(scope="module")
def gw(tracking, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("topology-a-gateway")
    args = ("--tracking-uri", tracking.url, "--ready-details", "--trusted-proxies", "127.0.0.1")
    with stopping(start_s3_gateway(workdir, seaweed, PREFIX, *args)) as g:
        yield g


@pytest.fixture(scope="module")
def flow(gw, tmp_path_factory) -> dict:
    return run_client_flow(gw.url, PREFIX, MODEL, tmp_path_factory.mktemp("topology-a-client"))


def run_root(flow: dict) -> str:
    return f"{flow['experiment_id']}/{flow['run_id']}/artifacts"


def model_root(flow: dict) -> str:
    return flow["model_location"].removeprefix("mlflow-artifacts:/")


def stored_names(s3, gw: Gateway, root: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=gw.key(root) + "/").get("Contents", [])
    return {obj["Key"].removeprefix(gw.key(root) + "/") for obj in listed}


def test_stock_client_needs_only_the_gateway(flow, gw, tracking, s3):
    assert flow["params"] == PARAMS and flow["metrics"] == METRICS and flow["tags"] == TAGS
    assert flow["predicted"] == pytest.approx(flow["expected"])
    assert flow["predicted_registered"] == pytest.approx(flow["expected"])
    assert flow["downloaded"] == NOTES
    assert flow["run_files"] == ["config.json", "notes"]
    assert flow["artifact_uri"] == f"mlflow-artifacts:/{run_root(flow)}"
    assert stored_bytes(gw, s3, f"{run_root(flow)}/notes/readme.txt") == NOTES.encode()
    assert stored_names(s3, gw, run_root(flow)) == {"config.json", "notes/readme.txt"}
    assert {"MLmodel", "requirements.txt"} <= stored_names(s3, gw, model_root(flow))
    on_disk = [p for p in tracking.workdir.rglob("*") if p.is_file()]
    assert all(p.name.startswith("mlflow.db") for p in on_disk), on_disk


def get_json(url: str, **params: str) -> dict:
    resp = requests.get(url, params=params, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_run_artifact_listing_is_answered_by_the_gateway(flow, gw, s3):
    config_size = len(stored_bytes(gw, s3, f"{run_root(flow)}/config.json"))
    for prefix in API_PREFIXES:
        top = get_json(f"{gw.url}{prefix}/artifacts/list", run_id=flow["run_id"])
        assert top == {
            "root_uri": flow["artifact_uri"],
            "files": [
                {"path": "config.json", "is_dir": False, "file_size": config_size},
                {"path": "notes", "is_dir": True},
            ],
        }
        notes = get_json(f"{gw.url}{prefix}/artifacts/list", run_id=flow["run_id"], path="notes")
        assert notes["files"] == [
            {"path": "notes/readme.txt", "is_dir": False, "file_size": len(NOTES)}
        ]
        empty = get_json(f"{gw.url}{prefix}/artifacts/list", run_id=flow["run_id"], path="none")
        assert empty == {"root_uri": flow["artifact_uri"]}


@pytest.mark.parametrize("id_param", ["run_id", "run_uuid"])
def test_get_artifact_serves_run_files_like_mlflow(flow, gw, id_param):
    resp = requests.get(
        f"{gw.url}/get-artifact",
        params={id_param: flow["run_id"], "path": "notes/readme.txt"},
        timeout=60,
    )
    assert resp.status_code == 200 and resp.text == NOTES
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["Content-Disposition"] == "attachment; filename=readme.txt"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_ui_upload_artifact_lands_in_the_gateways_destination(flow, gw, s3):
    url = f"{gw.url}/ajax-api/2.0/mlflow/upload-artifact"
    params = {"run_uuid": flow["run_id"], "path": "ui/comment.txt"}
    resp = requests.post(url, params=params, data=b"from the UI", timeout=60)
    assert resp.status_code == 200, resp.text
    assert stored_bytes(gw, s3, f"{run_root(flow)}/ui/comment.txt") == b"from the UI"
    got = requests.get(
        f"{gw.url}/get-artifact",
        params={"run_id": flow["run_id"], "path": "ui/comment.txt"},
        timeout=60,
    )
    assert got.content == b"from the UI"

    too_big = {"run_uuid": flow["run_id"], "path": "ui/big.bin"}
    resp = requests.post(url, params=too_big, data=b"x" * (10 * 1024 * 1024 + 1), timeout=60)
    assert resp.status_code == 400 and "too large" in resp.json()["message"]
    empty = requests.post(url, params={"run_uuid": flow["run_id"], "path": "ui/e.txt"}, timeout=60)
    assert empty.status_code == 400 and empty.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unsafe = requests.post(
        url, params={"run_uuid": flow["run_id"], "path": "../x"}, data=b"x", timeout=60
    )
    assert unsafe.status_code == 400
    assert stored_names(s3, gw, f"{run_root(flow)}/ui") == {"comment.txt"}
    requests.delete(f"{gw.api}/{run_root(flow)}/ui", timeout=60).raise_for_status()


def test_model_version_and_logged_model_artifacts(flow, gw, s3):
    mlmodel = stored_bytes(gw, s3, f"{model_root(flow)}/MLmodel")
    assert mlmodel
    for prefix in ("", "/ajax-api/2.0/mlflow"):
        resp = requests.get(
            f"{gw.url}{prefix}/model-versions/get-artifact",
            params={"name": MODEL, "version": flow["version"], "path": "MLmodel"},
            timeout=60,
        )
        assert resp.status_code == 200 and resp.content == mlmodel
        assert resp.headers["Content-Disposition"] == "attachment; filename=MLmodel"
    logged = f"/logged-models/{flow['model_id']}/artifacts"
    for prefix in API_PREFIXES:
        listing = get_json(f"{gw.url}{prefix}{logged}/directories")
        assert listing["root_uri"] == flow["model_location"]
        assert {f["path"] for f in listing["files"]} == stored_names(s3, gw, model_root(flow))
    resp = requests.get(
        f"{gw.url}/ajax-api/2.0/mlflow{logged}/files",
        params={"artifact_file_path": "MLmodel"},
        timeout=60,
    )
    assert resp.status_code == 200 and resp.content == mlmodel


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [
        ("/get-artifact?run_id=0000nosuchrun&path=a.txt", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/get-artifact?run_id={run}&path=missing.txt", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/get-artifact?run_id={run}", 400, "INVALID_PARAMETER_VALUE"),
        ("/get-artifact?path=a.txt", 400, "INVALID_PARAMETER_VALUE"),
        ("/get-artifact?run_id={run}&path=../../outside", 400, "INVALID_PARAMETER_VALUE"),
        (
            "/api/2.0/mlflow/artifacts/list?run_id={run}&path=%252e%252e",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/model-versions/get-artifact?name=" + MODEL + "&version=99&path=MLmodel",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "/ajax-api/2.0/mlflow/logged-models/m-0000/artifacts/files?artifact_file_path=MLmodel",
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ],
)
def test_bad_lookups_are_mlflow_json_errors(flow, gw, route, status, code):
    resp = requests.get(gw.url + route.format(run=flow["run_id"]), timeout=60)
    assert resp.status_code == status, resp.text
    assert resp.json()["error_code"] == code and resp.json()["message"]


def create_run(gw: Gateway, experiment: str, location: str) -> dict:
    api = f"{gw.url}/api/2.0/mlflow"
    created = requests.post(
        f"{api}/experiments/create",
        json={"name": experiment, "artifact_location": location},
        timeout=60,
    )
    assert created.status_code == 200, created.text
    run = requests.post(
        f"{api}/runs/create", json={"experiment_id": created.json()["experiment_id"]}, timeout=60
    )
    assert run.status_code == 200, run.text
    return run.json()["run"]["info"]


def test_http_location_on_the_gateway_is_served_by_the_gateway(gw):
    run = create_run(gw, "http-location", f"{gw.api}/http-location")
    assert run["artifact_uri"] == f"{gw.api}/http-location/{run['run_id']}/artifacts"
    stored = f"{gw.api}/http-location/{run['run_id']}/artifacts/table.csv"
    assert requests.put(stored, data=b"a,b\n1,2\n", timeout=60).status_code == 200
    listing = get_json(f"{gw.url}/api/2.0/mlflow/artifacts/list", run_id=run["run_id"])
    assert listing == {
        "root_uri": run["artifact_uri"],
        "files": [{"path": "table.csv", "is_dir": False, "file_size": 8}],
    }
    got = requests.get(f"{gw.url}/get-artifact?run_id={run['run_id']}&path=table.csv", timeout=60)
    assert got.content == b"a,b\n1,2\n" and "aiohttp" in got.headers["Server"]


def test_http_location_named_by_a_trusted_proxys_host_is_served_by_the_gateway(gw):
    """Behind a proxy, clients record the proxy's host in their locations, not this hop's:
    the gateway must still know the location for its own (from `X-Forwarded-Host`)."""
    public = "localhost:9"  # the proxy's name as its clients see it; nothing listens there
    run = create_run(gw, "behind-proxy", f"http://{public}/api/2.0/mlflow-artifacts/artifacts/bp")
    stored = f"{gw.api}/bp/{run['run_id']}/artifacts/table.csv"
    assert requests.put(stored, data=b"a,b\n", timeout=60).status_code == 200
    forwarded = {"X-Forwarded-Host": public, "X-Forwarded-Proto": "http"}
    listing = requests.get(
        f"{gw.url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": run["run_id"]},
        headers=forwarded,
        timeout=60,
    )
    assert listing.status_code == 200 and "aiohttp" in listing.headers["Server"], listing.text
    assert listing.json() == {
        "root_uri": run["artifact_uri"],
        "files": [{"path": "table.csv", "is_dir": False, "file_size": 4}],
    }
    got = requests.get(
        f"{gw.url}/get-artifact",
        params={"run_id": run["run_id"], "path": "table.csv"},
        headers=forwarded,
        timeout=60,
    )
    assert got.content == b"a,b\n" and "aiohttp" in got.headers["Server"]


def test_local_locations_are_refused_unless_the_operator_allows_them(
    gw, tracking, seaweed, tmp_path
):
    """Review finding 7: a user made an experiment whose location was `file:` inside another
    experiment's files and planted a file there through `upload-artifact`, which the gateway
    passed to the tracking server. Refused now (403, nothing written) unless the operator
    allows local locations; then the tracking server answers, as it would itself."""
    elsewhere = tracking.workdir.parent / "elsewhere"
    run = create_run(gw, "file-location", elsewhere.as_uri())
    artifacts = elsewhere / run["run_id"] / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "hello.txt").write_bytes(b"hello")
    listing_url = f"/api/2.0/mlflow/artifacts/list?run_id={run['run_id']}"
    file_url = f"/get-artifact?run_id={run['run_id']}&path=hello.txt"
    planted = requests.post(
        f"{gw.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run["run_id"], "path": "planted.txt"},
        data=b"planted",
        timeout=60,
    )
    assert planted.status_code == 403, planted.text
    assert planted.json()["error_code"] == "PERMISSION_DENIED"
    assert not (artifacts / "planted.txt").exists()
    for url in (listing_url, file_url):
        refused = requests.get(f"{gw.url}{url}", timeout=60)
        assert refused.status_code == 403 and "aiohttp" in refused.headers["Server"], url

    args = ("--tracking-uri", tracking.url, "--upstream.allow-local-locations")
    with stopping(start_s3_gateway(tmp_path, seaweed, PREFIX, *args)) as allowing:
        listing = requests.get(f"{allowing.url}{listing_url}", timeout=60)
        assert listing.headers["Server"] == "uvicorn"
        assert listing.json()["files"] == [{"path": "hello.txt", "is_dir": False, "file_size": 5}]
        got = requests.get(f"{allowing.url}{file_url}", timeout=60)
        assert got.content == b"hello" and got.headers["Server"] == "uvicorn"


def test_locations_elsewhere_pass_through_to_the_tracking_server(gw, tracking):
    """The tracking server answers for locations that are not the gateway's (and fails as it
    would)."""
    foreign = create_run(gw, "foreign-host", "mlflow-artifacts://127.0.0.1:9/foreign")
    answer = requests.get(
        f"{gw.url}/api/2.0/mlflow/artifacts/list?run_id={foreign['run_id']}", timeout=60
    )
    assert answer.headers["Server"] == "uvicorn"
    assert "mlflow-artifacts URI" in answer.json()["message"]


def test_ui_loads_through_the_gateway(gw, tracking):
    direct = requests.get(f"{tracking.url}/", timeout=60)
    index = requests.get(f"{gw.url}/", timeout=60)
    assert index.status_code == 200 and index.content == direct.content
    assert index.headers["Content-Type"].startswith("text/html")
    script = re.search(r"static-files/static/js/main\.[0-9a-f]+\.js", index.text)
    assert script, index.text[:500]
    asset = requests.get(
        f"{gw.url}/{script.group(0)}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=60
    )
    raw = asset.raw.read(decode_content=False)
    assert asset.status_code == 200 and len(raw) == int(asset.headers["Content-Length"]) > 0
    assert raw == requests.get(f"{tracking.url}/{script.group(0)}", timeout=60).content
    search = requests.post(
        f"{gw.url}/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 100}, timeout=60
    )
    assert PREFIX in {e["name"] for e in search.json()["experiments"]}


def test_server_info_is_the_tracking_servers_with_the_gateways_artifact_fields(
    gw, tracking, s3_gateway
):
    upstream = get_json(f"{tracking.url}/api/3.0/mlflow/server-info")
    own = get_json(f"{s3_gateway.url}/api/3.0/mlflow/server-info")
    capability = set(FIELDS)
    for prefix in ("/api", "/ajax-api"):
        info = get_json(f"{gw.url}{prefix}/3.0/mlflow/server-info")
        assert info.keys() == upstream.keys() | capability
        assert {k: v for k, v in info.items() if k not in capability} == {
            k: v for k, v in upstream.items() if k not in capability
        }
        assert {k: info[k] for k in capability} == {k: own[k] for k in capability}


def test_readiness_reports_the_tracking_server_and_the_destination(gw, tracking):
    report = get_json(f"{gw.url}/ready")
    assert report["ready"] is True
    assert report["upstream"] == {"url": tracking.url, "ready": True}
    assert report["destinations"] == [
        {"name": "default", "uri": f"s3://{BUCKET}/{PREFIX}", "ready": True}
    ]


def test_tracking_server_stopped_metadata_fails_cleanly_artifacts_still_served(
    flow, gw, tracking, tmp_path, monkeypatch
):
    """Must stay last: it stops the module's tracking server."""
    tracking.process.stop()
    metadata = [
        requests.post(f"{gw.url}/api/2.0/mlflow/experiments/search", json={}, timeout=60),
        requests.get(f"{gw.url}/api/2.0/mlflow/runs/get?run_id={flow['run_id']}", timeout=60),
        requests.get(f"{gw.url}/", timeout=60),
        requests.get(
            f"{gw.url}/get-artifact?run_id={flow['run_id']}&path=notes/readme.txt", timeout=60
        ),
    ]
    for resp in metadata:
        assert resp.status_code == 502, resp.text
        assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    repo = MlflowArtifactsRepository(flow["artifact_uri"], tracking_uri=gw.url)
    downloaded = repo.download_artifacts("notes/readme.txt", dst_path=str(tmp_path))
    assert Path(downloaded).read_text() == NOTES
    late = tmp_path / "late.txt"
    late.write_text("logged while the tracking server is down")
    repo.log_artifact(str(late))
    assert {f.path for f in repo.list_artifacts()} == {"config.json", "notes", "late.txt"}
    time.sleep(READY_REUSE + 0.5)  # /ready may reuse a round from before the stop for 1 s
    report = requests.get(f"{gw.url}/ready", timeout=60)
    assert report.status_code == 503 and report.json()["upstream"]["ready"] is False
