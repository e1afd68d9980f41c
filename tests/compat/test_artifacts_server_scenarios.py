"""MLflow's own artifacts-server scenarios (its tests/tracking/test_mlflow_artifacts.py), rewritten
for deployment A: the stock 3.17.2 client and raw requests talk only to the gateway, which is in
front of a real `mlflow server --no-serve-artifacts` 3.17.2 and stores on SeaweedFS or local disk.

Where MLflow's test reads `artifacts_destination` directly, these read the destination behind the
gateway's back (the local directory, or SeaweedFS with boto3). The expected MIME types are
MLflow's rule (`mlflow.utils.mime_type_utils._guess_mime_type`, used by `mlflow/server/handlers.py`
`_response_with_file_attachment_headers`): the `_TEXT_EXTENSIONS` list, which has `MLmodel` and
`mlproject` (lower case: `MLPROJECT_FILE_NAME`), as `text/plain`, else `mimetypes`, else
`application/octet-stream`.
"""

from __future__ import annotations

import io
import uuid
from email.message import Message
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.utils.mime_type_utils import _guess_mime_type

from tests.helpers.stack import Gateway
from tests.helpers.storage import stored_bytes

pytestmark = pytest.mark.slow

ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")


@pytest.fixture(params=["s3", "local"])
def gw(request) -> Gateway:
    return request.getfixturevalue("gateway_a" if request.param == "s3" else "gateway_a_local")


@pytest.fixture
def client(gw, monkeypatch) -> MlflowClient:
    """The stock client in this process, knowing only the gateway. MLflow keeps the tracking
    URI and experiment in module globals and os.environ: all are put back afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gw.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(gw.url)
    mlflow.set_experiment(f"scenarios-{gw.destination}")
    try:
        yield MlflowClient(gw.url)
    finally:
        if mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


def content_disposition_filename(header: str) -> str:
    message = Message()
    message["Content-Disposition"] = header
    return message.get_param("filename", header="Content-Disposition")


def check_download_headers(resp: requests.Response, name: str, mime: str) -> None:
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Type"] == mime
    assert content_disposition_filename(resp.headers["Content-Disposition"]) == name


def stored(gw: Gateway, s3, path: str) -> bytes | None:
    return stored_bytes(gw, s3, path)


def test_mlflow_artifacts_rest_apis(gw, s3, exp):
    """PUT, GET and list through both prefixes; names in a listing are relative to the path."""
    for prefix in ARTIFACT_PREFIXES:
        root = f"{gw.url}{prefix}/artifacts"
        base = f"{exp}/{prefix.split('/')[1]}"
        assert requests.put(f"{root}/{base}/a.txt", data=b"0", timeout=30).json() == {}
        assert requests.put(f"{root}/{base}/dir/b.txt", data=b"1", timeout=30).status_code == 200
        assert stored(gw, s3, f"{base}/a.txt") == b"0"
        assert stored(gw, s3, f"{base}/dir/b.txt") == b"1"
        got = requests.get(f"{root}/{base}/a.txt", timeout=30)
        check_download_headers(got, "a.txt", "text/plain")
        assert got.content == b"0"
        assert requests.get(f"{root}/{base}/dir/b.txt", timeout=30).content == b"1"
        assert requests.get(root, params={"path": base}, timeout=30).json() == {
            "files": [
                {"path": "a.txt", "is_dir": False, "file_size": 1},
                {"path": "dir", "is_dir": True},
            ]
        }
        assert requests.get(root, params={"path": f"{base}/dir"}, timeout=30).json() == {
            "files": [{"path": "b.txt", "is_dir": False, "file_size": 1}]
        }


def run_root(run) -> str:
    return f"{run.info.experiment_id}/{run.info.run_id}/artifacts"


def test_log_artifact(client, gw, s3, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("0")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))
    assert stored(gw, s3, f"{run_root(run)}/a.txt") == b"0"
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="artifact_path")
    assert stored(gw, s3, f"{run_root(run)}/artifact_path/a.txt") == b"0"


def test_log_artifacts(client, tmp_path):
    tmp_path.joinpath("a.txt").write_text("0")
    (tmp_path / "dir").mkdir()
    tmp_path.joinpath("dir", "b.txt").write_text("1")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path))
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["a.txt", "dir"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "dir")] == ["dir/b.txt"]
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path), artifact_path="artifact_path")
    run_id = run.info.run_id
    assert [a.path for a in client.list_artifacts(run_id)] == ["artifact_path"]
    assert sorted(a.path for a in client.list_artifacts(run_id, "artifact_path")) == [
        "artifact_path/a.txt",
        "artifact_path/dir",
    ]
    assert [a.path for a in client.list_artifacts(run_id, "artifact_path/dir")] == [
        "artifact_path/dir/b.txt"
    ]


def test_list_and_download_artifacts(client, tmp_path):
    (tmp_path / "a.txt").write_text("0")
    (tmp_path / "b.txt").write_text("1")
    with mlflow.start_run() as run:
        assert client.list_artifacts(run.info.run_id) == []
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        mlflow.log_artifact(str(tmp_path / "b.txt"), "dir")
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["a.txt", "dir"]
    dest = Path(
        download_artifacts(run_id=run.info.run_id, artifact_path="", dst_path=str(tmp_path / "x"))
    )
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "dir"]
    assert (dest / "a.txt").read_text() == "0"
    dest = Path(
        download_artifacts(
            run_id=run.info.run_id, artifact_path="dir", dst_path=str(tmp_path / "y")
        )
    )
    assert [p.name for p in dest.iterdir()] == ["b.txt"] and (dest / "b.txt").read_text() == "1"


@pytest.mark.parametrize("api", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"])
def test_tracking_list_artifacts_root_uri_is_the_runs_artifact_uri(client, gw, api, tmp_path):
    (tmp_path / "a.txt").write_text("0")
    (tmp_path / "b.txt").write_text("1")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        mlflow.log_artifact(str(tmp_path / "b.txt"), "dir")
    url = f"{gw.url}{api}/artifacts/list"
    top = requests.get(url, params={"run_id": run.info.run_id}, timeout=30).json()
    assert top["files"] == [
        {"path": "a.txt", "is_dir": False, "file_size": 1},
        {"path": "dir", "is_dir": True},
    ]
    assert top["root_uri"] == run.info.artifact_uri == f"mlflow-artifacts:/{run_root(run)}"
    nested = requests.get(url, params={"run_id": run.info.run_id, "path": "dir"}, timeout=30)
    assert nested.json() == {
        "root_uri": run.info.artifact_uri,
        "files": [{"path": "dir/b.txt", "is_dir": False, "file_size": 1}],
    }


@pytest.mark.parametrize("route", ["/get-artifact", "/ajax-api/2.0/mlflow/get-artifact"])
@pytest.mark.parametrize("id_param", ["run_id", "run_uuid"])
def test_get_artifact(client, gw, tmp_path, route, id_param):
    (tmp_path / "a.txt").write_text("abcdefg")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"))
    resp = requests.get(
        f"{gw.url}{route}", params={id_param: run.info.run_id, "path": "a.txt"}, timeout=30
    )
    check_download_headers(resp, "a.txt", "text/plain")
    assert resp.text == "abcdefg"


@pytest.mark.parametrize(
    "route", ["/model-versions/get-artifact", "/ajax-api/2.0/mlflow/model-versions/get-artifact"]
)
def test_model_version_artifact_with_a_proxied_source(gw, tracking_317, route):
    """A version whose source is the bare `mlflow-artifacts:` root (its path is the destination's
    root). As in MLflow's test the version is created in the tracking server's database directly:
    the REST API refuses that source."""
    name = f"mv-{uuid.uuid4().hex[:10]}"
    file_name = f"{name}.txt"
    assert requests.put(f"{gw.api}/{file_name}", data=b"abcdefg", timeout=30).status_code == 200
    store = MlflowClient(f"sqlite:///{tracking_317.workdir / 'mlflow.db'}")
    store.create_registered_model(name)
    version = store.create_model_version(name, "mlflow-artifacts:", run_id=None).version
    resp = requests.get(
        f"{gw.url}{route}", params={"name": name, "version": version, "path": file_name}, timeout=30
    )
    check_download_headers(resp, file_name, "text/plain")
    assert resp.text == "abcdefg"
    requests.delete(f"{gw.api}/{file_name}", timeout=30)


MIME_CASES = [
    ("a.txt", "text/plain"),
    ("b.pkl", "application/octet-stream"),
    ("c.png", "image/png"),
    ("d.pdf", "application/pdf"),
    ("MLmodel", "text/plain"),
    ("mlproject", "text/plain"),
    ("e.yaml", "text/plain"),
    ("f.json", "text/plain"),
    ("g.ipynb", "text/plain"),
    ("h.html", "text/html"),
    ("i.svg", "image/svg+xml"),
    ("j.parquet", "application/octet-stream"),
    ("README", "application/octet-stream"),
]


def test_mime_cases_are_mlflows_rule():
    """The table below is what MLflow itself answers (mime_type_utils, on this machine)."""
    assert [(name, _guess_mime_type(name)) for name, _ in MIME_CASES] == MIME_CASES


@pytest.mark.parametrize(("name", "mime"), MIME_CASES)
def test_mime_type_for_download_routes(client, gw, tmp_path, name, mime):
    base = f"{uuid.uuid4().hex}/dir"
    assert requests.put(f"{gw.api}/{base}/{name}", data=b"", timeout=30).status_code == 200
    check_download_headers(requests.get(f"{gw.api}/{base}/{name}", timeout=30), name, mime)
    (tmp_path / name).write_bytes(b"")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / name))
    resp = requests.get(
        f"{gw.url}/get-artifact", params={"run_id": run.info.run_id, "path": name}, timeout=30
    )
    check_download_headers(resp, name, mime)
    requests.delete(f"{gw.api}/{base.split('/')[0]}", timeout=30)


def test_mlproject_with_a_capital_is_text_too(gw):
    """A deliberate difference from MLflow 3.17/3.18, which answers `MLproject` (the name MLflow
    projects use) with `application/octet-stream`: its text list holds only `mlproject`, and the
    comparison is case-sensitive. The gateway serves it as text, like `MLmodel`."""
    assert _guess_mime_type("MLproject") == "application/octet-stream"  # MLflow's own answer
    base = f"{uuid.uuid4().hex}"
    requests.put(f"{gw.api}/{base}/MLproject", data=b"name: p\n", timeout=30).raise_for_status()
    check_download_headers(
        requests.get(f"{gw.api}/{base}/MLproject", timeout=30), "MLproject", "text/plain"
    )
    requests.delete(f"{gw.api}/{base}", timeout=30)


@pytest.mark.parametrize(
    ("name", "requested", "responded"),
    [
        ("b.pkl", "text/html", "application/octet-stream"),
        ("c.png", "text/html", "image/png"),
        ("d.pdf", "text/html", "application/pdf"),
    ],
)
def test_server_overrides_requested_mime_type(gw, name, requested, responded):
    base = f"{uuid.uuid4().hex}/dir"
    requests.put(
        f"{gw.api}/{base}/{name}", data=b"x", headers={"Content-Type": requested}, timeout=30
    ).raise_for_status()
    resp = requests.get(f"{gw.api}/{base}/{name}", headers={"Accept": requested}, timeout=30)
    check_download_headers(resp, name, responded)
    requests.delete(f"{gw.api}/{base.split('/')[0]}", timeout=30)


def test_log_image_files_keep_their_names(client, gw):
    from PIL import Image

    image = np.random.default_rng(7).integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    with mlflow.start_run() as run:
        mlflow.log_image(image, key="dog", step=20, timestamp=100, synchronous=True)
    listing = requests.get(
        f"{gw.url}/ajax-api/2.0/mlflow/artifacts/list",
        params={"path": "images", "run_id": run.info.run_id},
        timeout=30,
    )
    assert listing.status_code == 200, listing.text
    files = [f["path"] for f in listing.json()["files"]]
    assert any(p.endswith(".png") for p in files), files
    for path in files:
        resp = requests.get(
            f"{gw.url}/get-artifact", params={"run_id": run.info.run_id, "path": path}, timeout=30
        )
        assert resp.status_code == 200, resp.text
        assert (
            "attachment; filename=dog+step+20+timestamp+100" in resp.headers["Content-Disposition"]
        )
        assert (
            content_disposition_filename(resp.headers["Content-Disposition"]) == path.split("/")[-1]
        )
        if path.endswith(".png"):
            loaded = np.asarray(Image.open(io.BytesIO(resp.content)), dtype=np.uint8)
            np.testing.assert_array_equal(loaded, image)


def test_ajax_forms_of_the_artifact_and_tracking_routes(client, gw, tmp_path):
    """The UI's routes: artifacts under /ajax-api, the tracking routes under /ajax-api."""
    (tmp_path / "m.json").write_text('{"a": 1}')
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "m.json"), "sub")
    root = run_root(run)
    ajax = f"{gw.url}/ajax-api/2.0/mlflow-artifacts/artifacts"
    got = requests.get(f"{ajax}/{root}/sub/m.json", timeout=30)
    check_download_headers(got, "m.json", "text/plain")
    assert requests.get(ajax, params={"path": f"{root}/sub"}, timeout=30).json() == {
        "files": [{"path": "m.json", "is_dir": False, "file_size": 8}]
    }
    resp = requests.get(
        f"{gw.url}/ajax-api/2.0/mlflow/get-artifact",
        params={"run_uuid": run.info.run_id, "path": "sub/m.json"},
        timeout=30,
    )
    check_download_headers(resp, "m.json", "text/plain")
    upload = requests.post(
        f"{gw.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run.info.run_id, "path": "sub/ui.json"},
        data=b'{"from": "ui"}',
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    listed = client.list_artifacts(run.info.run_id, "sub")
    assert sorted(f.path for f in listed) == ["sub/m.json", "sub/ui.json"]
