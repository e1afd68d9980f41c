"""MLflow 3 workspaces end to end with real parts (issue 21): `mlflow server --enable-workspaces`
3.17.2 in deployments A (the gateway in front) and B (the gateway as its artifact root), and
3.18.0 (server and client, tests/compat/clients.py's venv) in A; two
workspaces routed to two SeaweedFS buckets whose keys open only their own bucket; the stock
client switching workspaces with `mlflow.set_workspace`. Every object must lie at MLflow's own
key, and a stock `mlflow server --serve-artifacts --enable-workspaces` over the same bucket must
find what the gateway wrote (and the gateway what it wrote)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.compat import clients
from tests.helpers.cli import write_config
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import (
    NOBODY,
    TEAM_A,
    TEAM_B,
    Gateway,
    clean_env,
    s3_env,
    start_gateway,
)
from tests.helpers.upstreams import NO_TELEMETRY, ROOT, Server, start_mlflow_server, stopping

pytestmark = pytest.mark.slow

WORKSPACES = {"team-a": ("bucket-a", TEAM_A), "team-b": ("bucket-b", TEAM_B)}
PREFIX = "mlflow"
HEADER = "X-MLFLOW-WORKSPACE"


def gateway_config(seaweed: SeaweedS3, workdir: Path, *, workspaces: bool | None) -> Path:
    """Each workspace to its own bucket with that bucket's keys; the default workspace local."""
    destinations = {
        ws: {
            "uri": f"s3://{bucket}/{PREFIX}",
            "endpoint_url": seaweed.endpoint,
            "region": "us-east-1",
            "access_key_id": identity.access_key,
            "secret_access_key": identity.secret_key,
        }
        for ws, (bucket, identity) in WORKSPACES.items()
    }
    config: dict = {
        "destinations": destinations | {"shared": {"uri": str(workdir / "shared")}},
        "routes": [{"workspace": ws, "destination": ws} for ws in WORKSPACES],
        "default_destination": "shared",
    }
    if workspaces is not None:
        config["workspaces"] = {"enabled": workspaces}
    return write_config(workdir, config)


def gateway(seaweed: SeaweedS3, workdir: Path, *args: str, workspaces: bool | None) -> Gateway:
    """The environment's keys are NOBODY's: a request signed with them would fail."""
    workdir.mkdir(parents=True)
    config = gateway_config(seaweed, workdir, workspaces=workspaces)
    env = clean_env(**s3_env(seaweed.endpoint, NOBODY))
    process, url = start_gateway(workdir, ["--config", str(config), *args], env)
    return Gateway(process, url, "s3")


DEPLOYMENTS = ["A", "B", "A318"]


@pytest.fixture(scope="module")
def deployments(seaweed, tmp_path_factory) -> Iterator[dict[str, tuple[Server, Gateway]]]:
    """A: the gateway in front of a workspace server (which it asks whether workspaces are
    on); B: an artifacts-only gateway (`workspaces.enabled: true`) as the server's root; A318:
    A with the 3.18.0 server."""
    python = Path(sys.executable)
    work = tmp_path_factory.mktemp("workspaces")
    with contextlib.ExitStack() as stack:
        found = {}
        for name, server_python in (("A", python), ("A318", clients.ensure("3.18.0").python)):
            tracking = start_mlflow_server(
                server_python,
                work / f"tracking-{name}",
                "mlflow-artifacts:/",
                "--enable-workspaces",
            )
            stack.enter_context(stopping(tracking))
            args = ("--tracking-uri", tracking.url)
            gw = stack.enter_context(
                stopping(gateway(seaweed, work / f"gw-{name}", *args, workspaces=None))
            )
            found[name] = (tracking, gw)
        gw_b = stack.enter_context(stopping(gateway(seaweed, work / "gw-B", workspaces=True)))
        tracking_b = start_mlflow_server(
            python, work / "tracking-B", gw_b.api, "--enable-workspaces"
        )
        found["B"] = (stack.enter_context(stopping(tracking_b)), gw_b)
        yield found


def run_client(python: Path, tracking_uri: str, workdir: Path) -> dict:
    """The stock client of `python`'s MLflow (tests.helpers.workspace_client imports only it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=str(ROOT), **NO_TELEMETRY)
    argv = [str(python), "-m", "tests.helpers.workspace_client", str(workdir), *WORKSPACES]
    result = subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sessions(deployments, tmp_path_factory) -> dict[str, dict]:
    """The stock client's session in each deployment: A talks to the gateway, B to the server."""
    work = tmp_path_factory.mktemp("workspace-clients")
    python, python_318 = Path(sys.executable), clients.ensure("3.18.0").python
    return {
        "A": run_client(python, deployments["A"][1].url, work / "A"),
        "B": run_client(python, deployments["B"][0].url, work / "B"),
        "A318": run_client(python_318, deployments["A318"][1].url, work / "A318"),
    }


def keys(s3, bucket: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/workspaces/")
    return {item["Key"] for item in listed.get("Contents", [])}


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_stock_client_switches_workspaces_and_objects_lie_at_mlflows_keys(
    sessions, deployments, s3, name
):
    for ws, (bucket, _) in WORKSPACES.items():
        seen = sessions[name][ws]
        assert seen["listed"] == ["sub/gone.txt", "sub/keep.txt"], seen
        assert seen["downloaded"] == f"kept in {ws}\n" and seen["after_delete"] == ["sub/keep.txt"]
        # MLflow's layout: workspaces/<ws>/<experiment>/<run>/artifacts/..., under the prefix
        run_dir = f"workspaces/{ws}/{seen['experiment']}/{seen['run']}/artifacts"
        assert seen["artifact_uri"].endswith(run_dir), seen
        key = f"{PREFIX}/{run_dir}/sub/keep.txt"
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"kept in {ws}\n".encode()
        assert f"{PREFIX}/{run_dir}/sub/gone.txt" not in keys(s3, bucket)
        for other, (other_bucket, _) in WORKSPACES.items():
            if other != ws:
                assert not [k for k in keys(s3, other_bucket) if seen["run"] in k]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_server_info_says_workspaces_are_on(deployments, name):
    gw = deployments[name][1]
    info = requests.get(f"{gw.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["workspaces_enabled"] is True, info


def test_a_workspace_caller_cannot_reach_another_workspaces_files(sessions, deployments):
    gw = deployments["B"][1]
    seen = sessions["B"]["team-b"]
    path = f"workspaces/team-b/{seen['experiment']}/{seen['run']}/artifacts/sub/keep.txt"
    own = requests.get(f"{gw.api}/{path}", headers={HEADER: "team-b"}, timeout=30)
    assert own.status_code == 200 and own.content == b"kept in team-b\n"
    crossed = requests.get(f"{gw.api}/{path}", headers={HEADER: "team-a"}, timeout=30)
    assert crossed.status_code == 400, crossed.text
    body = crossed.json()
    assert (body["error_code"], body["message"]) == (
        "INVALID_PARAMETER_VALUE",
        "Artifact path targets workspace 'team-b' but the workspace specified in "
        "the request is 'team-a'.",
    )


def test_a_stock_server_over_the_same_bucket_finds_what_the_gateway_wrote(
    sessions, deployments, seaweed, tmp_path_factory
):
    """`mlflow server --serve-artifacts --enable-workspaces` on bucket-a with team-a's keys,
    on a copy of deployment A's database (its workspaces); and the gateway reads what it
    writes. (`--artifacts-only` refuses the backend store its workspace check needs.)"""
    tracking_a, gw_a = deployments["A"]
    workdir = tmp_path_factory.mktemp("stock") / "server"
    workdir.mkdir()
    shutil.copyfile(tracking_a.workdir / "mlflow.db", workdir / "mlflow.db")
    stock = start_mlflow_server(
        Path(sys.executable),
        workdir,
        "mlflow-artifacts:/",
        "--enable-workspaces",
        artifacts_destination=f"s3://bucket-a/{PREFIX}",
        **s3_env(seaweed.endpoint, TEAM_A),
    )
    with stopping(stock):
        api = f"{stock.url}/api/2.0/mlflow-artifacts/artifacts"
        team_a = {HEADER: "team-a"}
        for name in DEPLOYMENTS:
            seen = sessions[name]["team-a"]
            run_dir = f"{seen['experiment']}/{seen['run']}/artifacts"  # the server scopes it
            listed = requests.get(
                api, params={"path": f"{run_dir}/sub"}, headers=team_a, timeout=60
            )
            assert listed.status_code == 200, listed.text
            assert [f["path"] for f in listed.json()["files"]] == ["keep.txt"]
            got = requests.get(f"{api}/{run_dir}/sub/keep.txt", headers=team_a, timeout=60)
            assert got.status_code == 200 and got.content == b"kept in team-a\n"
        seen = sessions["A"]["team-a"]
        path = f"{seen['experiment']}/{seen['run']}/artifacts/from-stock.txt"
        put = requests.put(f"{api}/{path}", data=b"written by mlflow", headers=team_a, timeout=60)
        assert put.status_code == 200, put.text
    back = requests.get(f"{gw_a.api}/{path}", headers=team_a, timeout=30)
    assert back.status_code == 200 and back.content == b"written by mlflow"
    elsewhere = requests.get(f"{gw_a.api}/{path}", headers={HEADER: "team-b"}, timeout=30)
    assert elsewhere.status_code == 404, elsewhere.text  # team-b's copy of the path: none
