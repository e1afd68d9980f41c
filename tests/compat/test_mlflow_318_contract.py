"""MLflow 3.18's artifact contract (tests/compat/CONTRACT_3_18.md), checked black-box against the
gateway in deployment A with a real 3.18.0 tracking server, and artifacts-only.

Several of these describe what the gateway does not do yet; each failure is the gateway-side
work. The few that check the 3.18 server itself pin down the reference they are written from.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.compat.deployments import PRESIGNED_ONLY_DOWNLOAD
from tests.helpers.stack import BUCKET, Gateway, s3_env
from tests.helpers.storage import stored_bytes
from tests.helpers.upstreams import Server, start_mlflow_server, stopping

pytestmark = pytest.mark.slow

SKILLS_MESSAGE = "Skill upload content is immutable; register a new version instead"
NEW_SERVER_INFO_FIELDS = {
    "artifact_serving_enabled",
    "artifacts_presigned_only",
    "model_artifact_presigned_downloads_supported",
    "tracking_auth",
    "skill_content_max_size",
    "skill_content_max_files",
}


def get_json(url: str, **params) -> dict:
    resp = requests.get(url, params=params, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def assert_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, f"{resp.status_code} {resp.text[:500]}"
    body = resp.json()
    assert body["error_code"] == code, body
    return body


# --- server-info ------------------------------------------------------------------------------


def test_318_server_info_has_the_new_fields(tracking_318):
    info = get_json(f"{tracking_318.url}/api/3.0/mlflow/server-info")
    assert info.keys() >= NEW_SERVER_INFO_FIELDS
    # --no-serve-artifacts; multipart only advertised with MLFLOW_ENABLE_PROXY_MULTIPART_* set.
    assert info["artifact_serving_enabled"] is False
    assert info["multipart_uploads_enabled"] is False
    assert info["artifacts_presigned_only"] is False


def test_server_info_says_the_gateway_serves_artifacts(gateway_a318, tracking_318):
    """Deployment A: the gateway serves every artifact route itself, so the 3.18 UI must not
    hide what needs server-side artifact storage (it reads `artifact_serving_enabled`)."""
    upstream = get_json(f"{tracking_318.url}/api/3.0/mlflow/server-info")
    for prefix in ("/api", "/ajax-api"):
        info = get_json(f"{gateway_a318.url}{prefix}/3.0/mlflow/server-info")
        assert info.keys() == upstream.keys()
        assert info["multipart_uploads_enabled"] is True
        assert info["multipart_downloads_enabled"] is True
        assert info["artifacts_presigned_only"] is False
        assert info["artifact_serving_enabled"] is True


def test_artifacts_only_server_info_has_the_318_artifact_fields(gateway_b):
    info = get_json(f"{gateway_b.url}/api/3.0/mlflow/server-info")
    assert info["artifact_serving_enabled"] is True
    assert info["artifacts_presigned_only"] is False
    assert info["model_artifact_presigned_downloads_supported"] is True


# --- presigned=true downloads -----------------------------------------------------------------


@pytest.fixture(scope="module")
def version_318(gateway_a318) -> dict:
    """A registered model version whose source is a run's `mlflow-artifacts:` location."""
    name = f"contract-{uuid.uuid4().hex[:8]}"
    run = create_run(gateway_a318)
    source = f"{run['artifact_uri']}/model"
    mlmodel = b"artifact_path: model\nflavors: {}\n"
    root = source.removeprefix("mlflow-artifacts:/")
    put = requests.put(f"{gateway_a318.api}/{root}/MLmodel", data=mlmodel, timeout=30)
    assert put.status_code == 200, put.text
    api = f"{gateway_a318.url}/api/2.0/mlflow"
    requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=30)
    created = requests.post(
        f"{api}/model-versions/create",
        json={"name": name, "source": source, "run_id": run["run_id"]},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    return {"name": name, "version": created.json()["model_version"]["version"], "bytes": mlmodel}


def assert_presigned(gw: Gateway, resp: requests.Response, expected: bytes) -> None:
    """MLflow's PresignedDownloadUrlResponse.to_dict(): url, headers, file_size."""
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"url", "headers", "file_size"}
    assert body["file_size"] == len(expected) and isinstance(body["headers"], dict)
    fetched = requests.get(body["url"], headers=body["headers"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == expected


def test_model_version_get_artifact_unsigned_still_streams(gateway_a318, version_318):
    resp = requests.get(
        f"{gateway_a318.url}/model-versions/get-artifact",
        params={"name": version_318["name"], "version": version_318["version"], "path": "MLmodel"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.content == version_318["bytes"]


@pytest.mark.parametrize(
    "route", ["/model-versions/get-artifact", "/ajax-api/2.0/mlflow/model-versions/get-artifact"]
)
def test_model_version_get_artifact_presigned(gateway_a318, version_318, route):
    params = {
        "name": version_318["name"],
        "version": version_318["version"],
        "path": "MLmodel",
        "presigned": "true",
    }
    resp = requests.get(f"{gateway_a318.url}{route}", params=params, timeout=30)
    assert_presigned(gateway_a318, resp, version_318["bytes"])


def test_logged_model_files_presigned(gateway_a318):
    api = f"{gateway_a318.url}/api/2.0/mlflow"
    experiment = requests.post(
        f"{api}/experiments/create",
        json={"name": f"contract-lm-{uuid.uuid4().hex[:8]}"},
        timeout=30,
    ).json()["experiment_id"]
    created = requests.post(f"{api}/logged-models", json={"experiment_id": experiment}, timeout=30)
    assert created.status_code == 200, created.text
    info = created.json()["model"]["info"]
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    requests.put(f"{gateway_a318.api}/{root}/MLmodel", data=b"flavors: {}\n", timeout=30)
    files = (
        f"{gateway_a318.url}/ajax-api/2.0/mlflow/logged-models/{info['model_id']}/artifacts/files"
    )
    plain = requests.get(files, params={"artifact_file_path": "MLmodel"}, timeout=30)
    assert plain.status_code == 200 and plain.content == b"flavors: {}\n"
    signed = requests.get(
        files, params={"artifact_file_path": "MLmodel", "presigned": "true"}, timeout=30
    )
    assert_presigned(gateway_a318, signed, b"flavors: {}\n")


# --- presigned-only mode ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def presigned_only(client_venvs, seaweed, tmp_path_factory) -> Iterator[Server]:
    """A 3.18 server with `--artifacts-presigned-only`: it needs `--serve-artifacts` to a
    destination that can presign (S3 here; with `--no-serve-artifacts` or a local destination it
    refuses to start), so it is the reference only, never a deployment-A upstream, and it holds
    bucket keys."""
    server = start_mlflow_server(
        client_venvs["3.18.0"].python,
        tmp_path_factory.mktemp("presigned-only") / "tracking",
        "mlflow-artifacts:/",
        "--artifacts-presigned-only",
        artifacts_destination=f"s3://{BUCKET}/presigned-only",
        **s3_env(seaweed.endpoint),
    )
    with stopping(server):
        yield server


def test_318_presigned_only_refusal_shape(presigned_only):
    """Proxied transfers on a presigned-only 3.18 server: 403 with a flag the UI reads."""
    url = presigned_only.url
    run = requests.post(
        f"{url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=30
    ).json()["run"]["info"]
    resp = requests.get(
        f"{url}/get-artifact", params={"run_id": run["run_id"], "path": "a.txt"}, timeout=30
    )
    assert resp.status_code == 403
    assert resp.json() == {
        "error_code": "PERMISSION_DENIED",
        "message": PRESIGNED_ONLY_DOWNLOAD,
        "sqlstate": "KAM00",
        "error_class": "PERMISSION_DENIED",
        "artifacts_presigned_only": True,
    }
    upload = requests.put(
        f"{url}/api/2.0/mlflow-artifacts/artifacts/0/x.txt", data=b"x", timeout=30
    )
    assert upload.status_code == 403 and upload.json()["artifacts_presigned_only"] is True
    assert upload.json()["message"].startswith("This server requires artifacts to be uploaded")
    info = get_json(f"{url}/api/3.0/mlflow/server-info")
    assert info["artifacts_presigned_only"] is True and info["artifact_serving_enabled"] is True


# --- skills/ write protection -----------------------------------------------------------------

SKILL_PATHS = [
    "skills/demo/0123456789abcdef0123456789abcdef/SKILL.md",
    "SKILLS/demo/x.md",
    "Skills/@org/demo/x.md",
    "skills",
    "./skills/x.md",
    "workspaces/team/skills/demo/x.md",
    "WORKSPACES/team/Skills/x.md",
]
NOT_SKILL_PATHS = ["skillset/x.md", "workspaces/skills/x.md", "7/run/artifacts/skills/x.md"]


@pytest.fixture(params=["A318", "artifacts-only"])
def any_gateway(request) -> Gateway:
    return request.getfixturevalue("gateway_a318" if request.param == "A318" else "gateway_b")


@pytest.mark.parametrize("path", SKILL_PATHS)
def test_skill_namespace_is_write_protected(any_gateway, path, s3):
    gw = any_gateway
    put = requests.put(f"{gw.api}/{path}", data=b"# skill", timeout=30)
    body = assert_error(put, 403, "PERMISSION_DENIED")
    assert body["message"] == SKILLS_MESSAGE
    assert stored_bytes(gw, s3, path.removeprefix("./")) is None
    deleted = requests.delete(f"{gw.api}/{path}", timeout=30)
    assert assert_error(deleted, 403, "PERMISSION_DENIED")["message"] == SKILLS_MESSAGE


@pytest.mark.parametrize("path", NOT_SKILL_PATHS)
def test_paths_beside_the_skill_namespace_stay_writable(any_gateway, path):
    gw = any_gateway
    assert requests.put(f"{gw.api}/{path}", data=b"x", timeout=30).status_code == 200
    assert requests.delete(f"{gw.api}/{path}", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("directory", "name"),
    [
        ("skills/demo", "SKILL.md"),
        ("workspaces/team/skills", "x.md"),
        ("workspaces/team", "skills"),
    ],
)
@pytest.mark.parametrize("action", ["create", "complete", "abort"])
def test_skill_namespace_is_write_protected_for_multipart(any_gateway, directory, name, action):
    body = {"path": f"/home/me/{name}", "num_parts": 1, "upload_id": "x", "parts": []}
    url = f"{any_gateway.url}/api/2.0/mlflow-artifacts/mpu/{action}/{directory}"
    with aborting(any_gateway, directory, body["path"]) as post:
        resp = post(url, body)
    assert assert_error(resp, 403, "PERMISSION_DENIED")["message"] == SKILLS_MESSAGE


@contextlib.contextmanager
def aborting(gw: Gateway, directory: str, path: str) -> Iterator:
    """POSTs mpu requests; any upload one of them started is aborted afterwards, so no test
    leaves a multipart upload in the shared bucket (tests/multipart checks it holds none)."""
    started: list[str] = []

    def post(url: str, body: dict) -> requests.Response:
        resp = requests.post(url, json=body, timeout=30)
        if resp.status_code == 200 and "upload_id" in resp.json():
            started.append(resp.json()["upload_id"])
        return resp

    try:
        yield post
    finally:
        for upload_id in started:
            requests.post(
                f"{gw.url}/api/2.0/mlflow-artifacts/mpu/abort/{directory}",
                json={"path": path, "upload_id": upload_id},
                timeout=30,
            )


def test_skill_namespace_stays_readable(gateway_b, s3):
    """Only writes are refused: GET of existing skill content is served."""
    s3.put_object(Bucket="artifacts", Key=gateway_b.key("skills/readable/x.md"), Body=b"# r")
    got = requests.get(f"{gateway_b.api}/skills/readable/x.md", timeout=30)
    assert got.status_code == 200 and got.content == b"# r"
    s3.delete_object(Bucket="artifacts", Key=gateway_b.key("skills/readable/x.md"))


# --- multipart `path` field -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".", "..", "src%5C..", "C%3A..", "/home/me/..", "a\\.."])
def test_multipart_path_field_naming_no_file_is_400(gateway_b, exp, name):
    directory = f"{exp}/run/artifacts"
    for action in ("create", "complete", "abort"):
        body = {"path": name, "num_parts": 1, "upload_id": "x", "parts": [{"part_number": 1}]}
        url = f"{gateway_b.url}/api/2.0/mlflow-artifacts/mpu/{action}/{directory}"
        with aborting(gateway_b, directory, name) as post:
            resp = post(url, body)
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "local_file",
    ["model.bin", "/home/me/model.bin", "C:\\Users\\me\\model.bin", "rel/dir/model.bin"],
)
def test_multipart_path_field_keeps_only_the_basename(gateway_b, s3, exp, local_file):
    url = f"{gateway_b.url}/api/2.0/mlflow-artifacts/mpu"
    directory = f"{exp}/run/artifacts/m"
    created = requests.post(
        f"{url}/create/{directory}", json={"path": local_file, "num_parts": 1}, timeout=30
    )
    assert created.status_code == 200, created.text
    upload = created.json()
    part = requests.put(upload["credentials"][0]["url"], data=b"weights", timeout=30)
    assert part.status_code == 200, part.text
    parts = [{"part_number": 1, "etag": part.headers["ETag"]}]
    done = requests.post(
        f"{url}/complete/{directory}",
        json={"path": local_file, "upload_id": upload["upload_id"], "parts": parts},
        timeout=30,
    )
    assert done.status_code == 200, done.text
    assert stored_bytes(gateway_b, s3, f"{directory}/model.bin") == b"weights"
    requests.delete(f"{gateway_b.api}/{exp}", timeout=30)


# --- upload-artifact, trace artifacts, presigned URL routes ------------------------------------


def create_run(gw: Gateway) -> dict:
    api = f"{gw.url}/api/2.0/mlflow"
    resp = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["run"]["info"]


@pytest.mark.parametrize("id_param", ["run_id", "run_uuid"])
def test_upload_artifact_accepts_run_id_and_run_uuid(gateway_a318, s3, id_param):
    run = create_run(gateway_a318)
    resp = requests.post(
        f"{gateway_a318.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={id_param: run["run_id"], "path": "ui/table.json"},
        data=b'{"a": 1}',
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    root = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert stored_bytes(gateway_a318, s3, f"{root}/ui/table.json") == b'{"a": 1}'


def test_upload_artifact_without_a_run_is_400(gateway_a318):
    resp = requests.post(
        f"{gateway_a318.url}/ajax-api/2.0/mlflow/upload-artifact",
        params={"path": "ui/x.json"},
        data=b"{}",
        timeout=30,
    )
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.fixture(scope="module")
def trace_318(client_venvs, gateway_a318, tmp_path_factory) -> dict:
    """A trace logged by the stock 3.18 client through the gateway."""
    import json
    import subprocess

    from tests.helpers.stack import clean_env
    from tests.helpers.upstreams import NO_TELEMETRY

    script = (
        "import json, mlflow\n"
        "mlflow.set_experiment('contract-traces')\n"
        "with mlflow.start_span(name='contract-span') as span:\n"
        "    span.set_inputs({'q': 1}); span.set_outputs({'a': 2})\n"
        "mlflow.flush_trace_async_logging()\n"
        "trace = mlflow.get_trace(span.trace_id)\n"
        "print(json.dumps({'trace_id': span.trace_id, 'tags': trace.info.tags}))\n"
    )
    env = clean_env(MLFLOW_TRACKING_URI=gateway_a318.url, **NO_TELEMETRY)
    result = subprocess.run(
        [str(client_venvs["3.18.0"].python), "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path_factory.mktemp("trace"),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_get_trace_artifact_through_the_gateway(gateway_a318, trace_318, version):
    resp = requests.get(
        f"{gateway_a318.url}/ajax-api/{version}/mlflow/get-trace-artifact",
        params={"request_id": trace_318["trace_id"]},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text[:500]
    assert "contract-span" in resp.text


def test_get_trace_artifact_needs_request_id(gateway_a318):
    resp = requests.get(f"{gateway_a318.url}/ajax-api/3.0/mlflow/get-trace-artifact", timeout=30)
    assert_error(resp, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("route", "body_extra", "word"),
    [
        ("presigned-upload-url", {}, "upload"),
        ("presigned-download-url", {}, "download"),
    ],
)
def test_presigned_url_routes_refuse_proxied_runs_like_mlflow(
    gateway_a318, tracking_318, route, body_extra, word
):
    """MLflow 3.18 signs only direct cloud locations; for `mlflow-artifacts:` runs it answers 400,
    and so does the gateway (it passes these routes through)."""
    for server in (tracking_318.url, gateway_a318.url):
        run = create_run(gateway_a318)
        resp = requests.post(
            f"{server}/api/2.0/mlflow/artifacts/{route}",
            json={"run_id": run["run_id"], "path": "a.txt", **body_extra},
            timeout=30,
        )
        body = assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert f"Presigned {word} is not supported" in body["message"]
        assert "mlflow-artifacts" in body["message"]


def test_presigned_upload_url_needs_exactly_one_of_run_id_and_model_id(gateway_a318, tracking_318):
    """The gateway's own 400, in 3.18's body down to `sqlstate` and `error_class`."""
    bodies = []
    for server in (tracking_318.url, gateway_a318.url):
        resp = requests.post(
            f"{server}/api/2.0/mlflow/artifacts/presigned-upload-url",
            json={"path": "a.txt"},
            timeout=30,
        )
        bodies.append(assert_error(resp, 400, "INVALID_PARAMETER_VALUE"))
    mlflow_body, body = bodies
    assert body["message"] == "Exactly one of run_id and model_id must be provided."
    assert body == mlflow_body and body["sqlstate"] == "KAM00"


def test_contract_document_exists():
    doc = Path(__file__).with_name("CONTRACT_3_18.md").read_text()
    for field in NEW_SERVER_INFO_FIELDS:
        assert field in doc
