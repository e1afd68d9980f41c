"""Stock MLflow clients 2.9.2, 2.22.5, 3.17.2 and 3.18.0, each from its own venv, against
deployment A (clients know only the gateway) and B (the tracking server's artifact root is the
gateway), both on SeaweedFS; and deployment A with a 3.18.0 tracking server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.compat.clients import VERSIONS
from tests.compat.deployments import ADMIN, EDITOR, run_client
from tests.helpers.stack import BUCKET, Gateway
from tests.helpers.upstreams import Server

pytestmark = [pytest.mark.matrix, pytest.mark.slow]

MIB = 1024 * 1024
BIG = 11 * MIB + 7  # three parts of 5 MiB, 5 MiB and 1 MiB + 7
MULTIPART_ENV = {
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(5 * MIB),
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MIB),  # S3's minimum part size
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
    "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(4 * MIB),
}
# Where the client makes ranged downloads (`GET mlflow-artifacts/presigned/...`, then ranges of
# the link): 3.17 only for `mlflow-artifacts:` URIs (MlflowArtifactsRepository), 3.18 also for
# http URIs naming `/api/2.0/mlflow-artifacts/artifacts` (HttpArtifactRepository); 2.x never.
RANGED_DOWNLOAD = {
    ("2.22.5", "A"): False,
    ("2.22.5", "B"): False,
    ("3.17.2", "A"): True,
    ("3.17.2", "B"): False,
    ("3.18.0", "A"): True,
    ("3.18.0", "B"): True,
}


@dataclass
class Deployment:
    name: str
    tracking_uri: str  # what the client is given
    gateway: Gateway
    tracking: Server

    def run_root_uri(self, experiment_id: str, run_id: str) -> str:
        root = f"{experiment_id}/{run_id}/artifacts"
        return (
            f"mlflow-artifacts:/{root}"
            if self.name.startswith("A")
            else f"{self.gateway.api}/{root}"
        )


@pytest.fixture(params=["A", "B"])
def deployment(request) -> Deployment:
    if request.param == "A":
        gw, tracking = request.getfixturevalue("gateway_a"), request.getfixturevalue("tracking_317")
        return Deployment("A", gw.url, gw, tracking)
    gw, tracking = request.getfixturevalue("gateway_b"), request.getfixturevalue("tracking_b")
    return Deployment("B", tracking.url, gw, tracking)


def stored(s3, gw: Gateway, path: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=gw.key(path))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def check_flow(flow: dict, version: str, dep: Deployment, s3) -> None:
    assert flow["version"] == version
    run_root = f"{flow['experiment_id']}/{flow['run_id']}/artifacts"
    assert flow["artifact_uri"] == dep.run_root_uri(flow["experiment_id"], flow["run_id"])
    # MLflow 3 keeps models outside the run (logged models); 2.x logs them into the run.
    expected_root = ["data", "notes.txt", "tree"] + (["model"] if version < "3" else [])
    assert flow["root"] == sorted(expected_root)
    assert flow["tree"] == [["tree/a.csv", False, 8], ["tree/sub", True, None]]
    assert flow["tree_sub"] == ["tree/sub/b.json"]
    assert flow["tree_back"] == ["a.csv", "sub/b.json"] and flow["tree_back_csv"] == "x,y\n1,2\n"
    assert flow["weights_back_sha"] == flow["weights_sha"]
    assert flow["registered_version"] == "1"
    assert flow["predicted_registered"] == pytest.approx(flow["expected"])
    assert flow["cli_list"] == flow["root"]
    assert flow["cli_downloaded"] == f"logged by mlflow {version}\n"
    assert f"matrix-{version}-{dep.name}" in flow["cli_experiments"]
    notes = stored(s3, dep.gateway, f"{run_root}/notes.txt")
    assert notes == f"logged by mlflow {version}\n".encode()
    on_disk = [p for p in dep.tracking.workdir.rglob("*") if p.is_file()]
    assert all(p.name.startswith("mlflow.db") for p in on_disk), on_disk


@pytest.mark.parametrize("version", VERSIONS)
def test_stock_client_flow(client_venvs, deployment, version, s3, tmp_path):
    flow = run_client(
        client_venvs[version],
        {
            "mode": "flow",
            "experiment": f"matrix-{version}-{deployment.name}",
            "model_name": f"matrix-model-{version}-{deployment.name}",
            # `python -m mlflow ...` costs 10-15 s of imports here: once per version (in A).
            "cli_subprocess": deployment.name == "A",
        },
        deployment.tracking_uri,
        tmp_path,
    )
    check_flow(flow, version, deployment, s3)


@pytest.mark.parametrize("version", ["3.17.2", "3.18.0"])
def test_stock_client_flow_with_a_318_tracking_server(
    client_venvs, gateway_a318, tracking_318, version, s3, tmp_path
):
    dep = Deployment("A318", gateway_a318.url, gateway_a318, tracking_318)
    flow = run_client(
        client_venvs[version],
        {
            "mode": "flow",
            "experiment": f"matrix-{version}-A318",
            "model_name": f"matrix-model-{version}-A318",
        },
        dep.tracking_uri,
        tmp_path,
    )
    check_flow(flow, version, dep, s3)


@pytest.mark.parametrize("version", [v for v in VERSIONS if v != "2.9.2"])
def test_multipart_upload_and_ranged_download(client_venvs, deployment, version, s3, tmp_path):
    result = run_client(
        client_venvs[version],
        {
            "mode": "multipart",
            "experiment": f"matrix-mpu-{version}-{deployment.name}",
            "size": BIG,
            "artifact_path": "big",
        },
        deployment.tracking_uri,
        tmp_path,
        **MULTIPART_ENV,
    )
    assert result["error"] is None
    assert result["seen"]["create"] == [{"num_parts": 3, "artifact_path": "big"}]
    assert result["listed"] == ["big/big.bin"]
    assert result["back_sha"] == result["sha"]
    key = deployment.gateway.key(
        f"{result['experiment_id']}/{result['run_id']}/artifacts/big/big.bin"
    )
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == BIG and head["ETag"].endswith('-3"')
    if RANGED_DOWNLOAD[version, deployment.name]:
        (presigned,) = result["seen"]["presigned"]
        signed = f"{deployment.gateway.url}/api/2.0/mlflow-artifacts/signed/"
        assert presigned["url"].startswith(signed)
    else:
        assert result["seen"]["presigned"] == []


def test_292_multipart_upload_lands_outside_the_run(client_venvs, deployment, s3, tmp_path):
    """MLflow 2.9.2's client bug, as it is: `mpu/create|complete/<artifact_path>` without the run's
    root, so the file lands at `<destination>/<artifact_path>/<name>` (`mlflow server` places it
    there too: its handlers join the URL path to the destination root the same way)."""
    stray = f"big-{uuid.uuid4().hex[:8]}"
    result = run_client(
        client_venvs["2.9.2"],
        {
            "mode": "multipart",
            "experiment": f"matrix-mpu-2.9.2-{deployment.name}",
            "size": BIG,
            "artifact_path": stray,
        },
        deployment.tracking_uri,
        tmp_path,
        **MULTIPART_ENV,
    )
    assert result["error"] is None
    assert result["seen"]["create"] == [{"num_parts": 3, "artifact_path": stray}]
    assert result["listed"] == []  # not in the run
    run_key = f"{result['experiment_id']}/{result['run_id']}/artifacts/{stray}/big.bin"
    assert stored(s3, deployment.gateway, run_key) is None
    key = deployment.gateway.key(f"{stray}/big.bin")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == BIG and head["ETag"].endswith('-3"')
    s3.delete_object(Bucket=BUCKET, Key=key)


@pytest.mark.parametrize(
    ("artifact_path", "status", "code"),
    [("big", 403, "PERMISSION_DENIED"), (None, 404, "ENDPOINT_NOT_FOUND")],
    ids=["into-dir", "at-root"],
)
def test_292_stray_multipart_path_is_refused_without_edit_there(
    client_venvs, gateway_auth, artifact_path, status, code, s3, tmp_path
):
    """With auth on, the stray path's first segment (`big`) is not an experiment the user may
    write to: 403. Without an artifact path 2.9.2 posts to `mpu/create` with no path at all,
    which is no route (on `mlflow server` either: its routes are `mpu/create/<path>`): 404.
    Either way the upload fails and nothing lands anywhere."""
    run_root = f"7/{uuid.uuid4().hex}/artifacts"
    config = {
        "mode": "repo_upload",
        "artifact_uri": f"{gateway_auth.api}/{run_root}",
        "size": BIG,
        "artifact_path": artifact_path,
    }
    venv = client_venvs["2.9.2"]
    refused = run_client(venv, config, None, tmp_path / "mpu", **MULTIPART_ENV, **EDITOR.env)
    assert refused["error"] is not None and f"{status} Client Error" in refused["error"], refused
    assert code in refused["error"]
    if status == 403:
        assert "editor" in refused["error"] and "'big'" in refused["error"]
    for path in ("big/big.bin", "big.bin", f"{run_root}/big/big.bin", f"{run_root}/big.bin"):
        assert stored(s3, gateway_auth, path) is None, path

    # The same user may write into the run of experiment 7: single requests land there.
    plain = run_client(venv, config, None, tmp_path / "plain", **EDITOR.env)
    assert plain["error"] is None, plain
    target = f"{run_root}/big/big.bin" if artifact_path else f"{run_root}/big.bin"
    assert stored(s3, gateway_auth, target) is not None
    # ...and so does a fixed client's multipart upload (3.17.2 names the run's path).
    fixed = run_client(
        client_venvs["3.17.2"],
        {**config, "file_name": "fixed.bin"},
        None,
        tmp_path / "fixed",
        **MULTIPART_ENV,
        **EDITOR.env,
    )
    assert fixed["error"] is None, fixed
    fixed_target = f"{run_root}/big/fixed.bin" if artifact_path else f"{run_root}/fixed.bin"
    head = s3.head_object(Bucket=BUCKET, Key=gateway_auth.key(fixed_target))
    assert head["ETag"].endswith('-3"')


def test_292_stray_multipart_path_lands_for_a_user_allowed_there(
    client_venvs, gateway_auth, s3, tmp_path
):
    """An admin (MANAGE everywhere) is allowed at the stray path, so the bug shows again."""
    stray = f"big-{uuid.uuid4().hex[:8]}"
    run_root = f"7/{uuid.uuid4().hex}/artifacts"
    result = run_client(
        client_venvs["2.9.2"],
        {
            "mode": "repo_upload",
            "artifact_uri": f"{gateway_auth.api}/{run_root}",
            "size": BIG,
            "artifact_path": stray,
        },
        None,
        tmp_path,
        **MULTIPART_ENV,
        **ADMIN.env,
    )
    assert result["error"] is None, result
    assert stored(s3, gateway_auth, f"{run_root}/{stray}/big.bin") is None
    key = gateway_auth.key(f"{stray}/big.bin")
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == BIG
    s3.delete_object(Bucket=BUCKET, Key=key)
