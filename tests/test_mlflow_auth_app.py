"""`auth.provider: mlflow`: the gateway enforces exactly what the tracking server's auth app says.

A real `mlflow server --app-name basic-auth` (3.17.2, the suite's, serving artifacts to its own
directory; 3.18.0 with `--no-serve-artifacts`, as deployments A and B run it), users, grants
and a role made through its REST API, and a gateway with `auth.provider: mlflow` in front of
it. MLflow's own decision for each cell is its answer to the same artifact request made on the
tracking server with the same user's credentials (403 denied; anything else allowed); the
gateway's is its answer on its own artifact routes. The table: 6 users x 4 experiments x
{read, write, delete}, on a run's artifact and on a logged model's.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from tests.compat.clients import ensure
from tests.faults.proxy import FaultProxy
from tests.helpers.cli import run_cli, write_config
from tests.helpers.client_flow import NOTES
from tests.helpers.mlflow_auth import (
    ADMIN,
    ADMIN_PASSWORD,
    AuthAdmin,
    basic_header,
    in_parallel,
    start_auth_server,
)
from tests.helpers.processes import free_port, wait_until
from tests.helpers.stack import clean_env, start_gateway
from tests.helpers.upstreams import Server, run_client_flow, stopping

pytestmark = pytest.mark.slow

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
RUN = uuid.uuid4().hex
ACTIONS = ("read", "write", "delete")
CACHE_SECONDS = 1.0
WORKSPACE = "X-MLFLOW-WORKSPACE"


@dataclass
class Stack:
    version: str
    server: Server
    gateway_url: str
    admin: AuthAdmin
    experiments: list[str]
    passwords: dict[str, str]
    root: Path

    def headers(self, user: str) -> dict[str, str]:
        return basic_header(user, self.passwords[user])


def gateway_config(tracking_uri: str, root: Path, **mlflow: object) -> dict:
    return {
        "artifacts_destination": str(root),
        "tracking_uri": tracking_uri,
        "auth": {"provider": "mlflow", "mlflow": {"cache_seconds": CACHE_SECONDS, **mlflow}},
        "metrics": {"require_permission": True},
    }


def start_mlflow_gateway(workdir: Path, config: dict):
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return start_gateway(workdir, ["--config", str(path)], clean_env())


def populate(admin: AuthAdmin) -> tuple[list[str], dict[str, str]]:
    """Four experiments and six users whose permissions come from every kind of grant."""
    experiments = [admin.create_experiment(f"table-{uuid.uuid4().hex[:8]}") for _ in range(4)]
    e1, e2, e3, e4 = experiments
    users = ("boss", "reader", "editor", "manager", "teamster", "runreader")
    passwords = {user: f"{user}-pass-{uuid.uuid4().hex[:12]}" for user in users}
    for user, password in passwords.items():
        admin.create_user(user, password)
    admin.make_admin("boss")
    # reader: no grant at all, default_permission (READ) everywhere
    admin.grant("editor", "experiment", e1, "EDIT")
    admin.grant("editor", "experiment", e2, "EDIT")
    admin.grant("manager", "experiment", e1, "MANAGE")
    admin.grant("manager", "experiment", e4, "DENY")
    admin.role("team", [("experiment", "*", "EDIT"), ("experiment", e3, "MANAGE")], ["teamster"])
    for experiment in (e1, e2, e3):
        admin.grant("runreader", "experiment", experiment, "MANAGE")
    admin.grant("runreader", "run", "*", "READ")  # the run tier: its artifacts only
    return experiments, {**passwords, ADMIN: ADMIN_PASSWORD}


@pytest.fixture(scope="module", params=["3.17.2", "3.18.0"])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    version = request.param
    workdir = tmp_path_factory.mktemp(f"mlflow-auth-{version}")
    # 3.17.2 serves artifacts itself (the oracle's own answers come from real transfers); 3.18.0
    # runs as deployments A and B run it, --no-serve-artifacts, and with workspaces enabled.
    serving = str(workdir / "served") if version == "3.17.2" else None
    extra = () if version == "3.17.2" else ("--enable-workspaces",)
    python = ensure(version).python
    server = start_auth_server(python, workdir / "mlflow", *extra, artifacts_destination=serving)
    with stopping(server):
        admin = AuthAdmin.of(server)
        experiments, passwords = populate(admin)
        root = workdir / "artifacts"
        process, url = start_mlflow_gateway(workdir, gateway_config(server.url, root))
        try:
            yield Stack(version, server, url, admin, experiments, passwords, root)
        finally:
            process.stop()


def cell_paths(experiment: str, user: str) -> list[str]:
    return [
        f"{experiment}/{RUN}/artifacts/{user}.txt",
        f"{experiment}/models/m-{RUN[:8]}/artifacts/{user}.txt",
    ]


def decisions(
    base: str,
    stack: Stack,
    users: list[str],
    allowed: frozenset[int] = frozenset({200, 204}),
    workspaces: dict[str, str] | None = None,
) -> dict[tuple[str, str, str], bool]:
    """Every cell's answer from `base` (the tracking server or the gateway): seeded by the
    admin, then read, written (a sibling file) and deleted by the cell's user. `allowed`: the
    statuses that mean the request was let through (503 too on a `--no-serve-artifacts` server).
    `workspaces`: experiment -> workspace, sent as `X-MLFLOW-WORKSPACE` (else the table's own
    experiments, in no workspace)."""
    experiments = list(workspaces) if workspaces else stack.experiments
    cells = [(u, p) for u in users for e in experiments for p in cell_paths(e, u)]

    def headers(user: str, path: str) -> dict[str, str]:
        workspace = (workspaces or {}).get(path.split("/", 1)[0])
        return {**stack.headers(user), **({WORKSPACE: workspace} if workspace else {})}

    def seed(cell: tuple[str, str]) -> None:
        url = f"{base}{ARTIFACTS}/{cell[1]}"
        response = requests.put(url, data=b"seed", headers=headers(ADMIN, cell[1]), timeout=60)
        assert response.status_code in allowed, (cell, response.status_code, response.text)

    def act(action: str):
        def one(cell: tuple[str, str]) -> tuple[tuple[str, str, str], bool]:
            user, path = cell
            url, sent = f"{base}{ARTIFACTS}/{path}", headers(user, path)
            if action == "read":
                response = requests.get(url, headers=sent, timeout=60)
            elif action == "write":
                response = requests.put(url + ".w", data=b"w", headers=sent, timeout=60)
            else:
                response = requests.delete(url, headers=sent, timeout=60)
            assert response.status_code in {*allowed, 403}, (cell, action, response.text)
            return (user, path, action), response.status_code != 403

        return one

    in_parallel(seed, cells)
    found: dict[tuple[str, str, str], bool] = {}
    for action in ACTIONS:
        found.update(in_parallel(act(action), cells))
    return found


def test_the_permission_table_matches_the_tracking_servers_decisions(stack):
    users = ["boss", "reader", "editor", "manager", "teamster", "runreader"]
    serving = stack.version == "3.17.2"
    answered = frozenset({200, 204} if serving else {200, 204, 503})
    mlflow = decisions(stack.server.url, stack, users, answered)
    gateway = decisions(stack.gateway_url, stack, users)
    differing = sorted(cell for cell in mlflow if mlflow[cell] != gateway[cell])
    assert not differing, f"{stack.version}: gateway differs from MLflow on {differing}"
    assert len(mlflow) == 6 * 4 * 2 * 3
    for action in ACTIONS:  # a table of one answer would prove nothing
        answers = {allowed for (_, _, a), allowed in mlflow.items() if a == action}
        assert answers == {True, False}, action


@pytest.mark.parametrize("stack", ["3.18.0"], indirect=True)  # the workspace-enabled server
def test_workspace_grants_match_the_tracking_servers_decisions(stack):
    """Two workspaces, each with two experiments: a workspace member (USE), a workspace admin
    (MANAGE) of team-b only, an EDIT grant on one experiment of team-a, an outsider and the
    admin; the caller names the workspace in `X-MLFLOW-WORKSPACE`, as the stock client does."""
    workspaces: dict[str, str] = {}
    for workspace in ("team-a", "team-b"):
        stack.admin.call("POST", "/api/3.0/mlflow/workspaces", {"name": workspace})
        for _ in range(2):
            workspaces[stack.admin.create_experiment(f"ws-{uuid.uuid4().hex[:8]}", workspace)] = (
                workspace
            )
    edited = next(e for e, w in workspaces.items() if w == "team-a")
    users = ["member", "wsadmin", "editor2", "outsider"]
    for user in users:
        stack.passwords[user] = f"{user}-pass-{uuid.uuid4().hex[:12]}"
        stack.admin.create_user(user, stack.passwords[user])
    stack.admin.role("members", [("workspace", "*", "USE")], ["member"], "team-a")
    stack.admin.role("admins", [("workspace", "*", "MANAGE")], ["wsadmin"], "team-b")
    grants = [("workspace", "*", "USE"), ("experiment", edited, "EDIT")]
    stack.admin.role("editors", grants, ["editor2"], "team-a")
    users.append(ADMIN)
    mlflow = decisions(stack.server.url, stack, users, frozenset({200, 204, 503}), workspaces)
    gateway = decisions(stack.gateway_url, stack, users, workspaces=workspaces)
    differing = sorted(cell for cell in mlflow if mlflow[cell] != gateway[cell])
    assert not differing, f"gateway differs from MLflow on {differing}"
    for action in ACTIONS:
        answers = {allowed for (_, _, a), allowed in mlflow.items() if a == action}
        assert answers == {True, False}, action
    stored = {p.relative_to(stack.root).parts[:2] for p in stack.root.rglob("*.w")}
    assert {("workspaces", "team-a"), ("workspaces", "team-b")} <= stored  # MLflow's layout


def test_a_permission_revoked_upstream_takes_effect_within_the_cache_time(stack):
    experiment = stack.admin.create_experiment(f"revoked-{uuid.uuid4().hex[:8]}")
    name, password = f"rev-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    stack.admin.create_user(name, password)
    stack.admin.grant(name, "experiment", experiment, "EDIT")
    url = f"{stack.gateway_url}{ARTIFACTS}/{experiment}/{RUN}/artifacts/x.txt"
    headers = basic_header(name, password)
    assert requests.put(url, data=b"1", headers=headers, timeout=60).status_code == 200
    stack.admin.revoke(name, "experiment", experiment)
    time.sleep(CACHE_SECONDS)  # the documented delay: auth.mlflow.cache_seconds
    refused = requests.put(url, data=b"2", headers=headers, timeout=60)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert (stack.root / experiment / RUN / "artifacts" / "x.txt").read_bytes() == b"1"


@pytest.mark.parametrize("stack", ["3.17.2"], indirect=True)  # once: its client, no workspaces
def test_the_stock_client_end_to_end_with_username_and_password_multipart_included(stack, tmp_path):
    """`MLFLOW_TRACKING_USERNAME`/`PASSWORD` of a user of the auth app, the gateway as the
    tracking URI (deployment A); uploads through the proxied multipart routes."""
    name, password = f"flow-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    stack.admin.create_user(name, password)  # creating the experiment makes them its manager
    flow = run_client_flow(
        stack.gateway_url,
        f"auth-app-flow-{uuid.uuid4().hex[:8]}",
        f"auth-app-model-{uuid.uuid4().hex[:8]}",
        tmp_path,
        ensure(stack.version).python,
        MLFLOW_TRACKING_USERNAME=name,
        MLFLOW_TRACKING_PASSWORD=password,
        MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD="true",
        MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE="1",
    )
    assert flow["predicted"] == flow["expected"] == flow["predicted_registered"]
    assert flow["downloaded"] == NOTES
    stored = stack.root / flow["experiment_id"] / flow["run_id"] / "artifacts"
    assert (stored / "notes" / "readme.txt").read_text() == NOTES
    log_path = stack.root.parent / "gateway.log"
    assert wait_until(lambda: f" {name} " in log_path.read_text(), timeout=10)
    log = log_path.read_text()
    assert "source=mlflow" in log and password not in log
    assert "/mpu/complete/" in log


def test_an_unreachable_auth_app_is_503_and_nothing_is_stored(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    root = tmp_path / "artifacts"
    config = gateway_config(dead, root, timeout_seconds=2)
    process, url = start_mlflow_gateway(tmp_path, config)
    try:
        target = f"{url}{ARTIFACTS}/1/{RUN}/artifacts/x.txt"
        headers = basic_header("reader", "whatever")
        answers = [requests.put(target, data=b"x", headers=headers, timeout=60) for _ in range(2)]
        answers.append(requests.get(target, headers=headers, timeout=60))
    finally:
        process.stop()
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert answers[0].json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert not list(root.rglob("x.txt"))


def test_metrics_and_server_info_work_with_the_auth_apps_users(stack):
    """`/metrics` under `require_permission`: the auth app's admins; `server-info` and `/ready`
    (Identified routes) answer a user of the auth app as they answer anyone known."""
    metrics = f"{stack.gateway_url}/metrics"
    statuses = [
        requests.get(metrics, headers=stack.headers(user), timeout=60).status_code
        for user in ("boss", "reader")
    ]
    statuses.append(requests.get(metrics, timeout=60).status_code)
    statuses.append(
        requests.get(metrics, headers=basic_header("boss", "wrong"), timeout=60).status_code
    )
    assert statuses == [200, 403, 401, 401]
    info = requests.get(
        f"{stack.gateway_url}/api/3.0/mlflow/server-info",
        headers=stack.headers("reader"),
        timeout=60,
    )
    assert info.status_code == 200, info.text
    ready = f"{stack.gateway_url}/ready"  # details for known callers only
    known = requests.get(ready, headers=stack.headers("reader"), timeout=60).json()
    wrong = requests.get(ready, headers=basic_header("reader", "wrong"), timeout=60).json()
    assert "destinations" in known and "destinations" not in wrong, (known, wrong)


def test_a_flood_of_bogus_credentials_is_bounded_and_never_allowed(stack, tmp_path):
    config = gateway_config(stack.server.url, tmp_path / "artifacts", max_pending_checks=1)
    process, url = start_mlflow_gateway(tmp_path, config)
    try:
        target = f"{url}{ARTIFACTS}/{stack.experiments[0]}/{RUN}/artifacts/flood.txt"

        def bogus(i: int) -> int:
            headers = basic_header(f"nobody-{i}", f"guess-{i}")
            return requests.put(target, data=b"x", headers=headers, timeout=60).status_code

        statuses = in_parallel(bogus, range(48), threads=24)
    finally:
        process.stop()
    assert set(statuses) <= {401, 429} and 429 in statuses and 401 in statuses, statuses
    assert not list((tmp_path / "artifacts").rglob("flood.txt"))


@pytest.mark.parametrize("stack", ["3.17.2"], indirect=True)
def test_check_config_signs_in_with_the_service_account_once(stack, tmp_path):
    name, password = f"svc-{uuid.uuid4().hex[:6]}", f"svc-pw-{uuid.uuid4().hex}"
    stack.admin.create_user(name, password)  # no grant at all: signing in is all it does
    secret = tmp_path / "password"
    results = []
    for written in (password, "not-the-password-" + uuid.uuid4().hex):
        secret.write_text(written + "\n")
        config = gateway_config(stack.server.url, tmp_path / "artifacts")
        config["auth"]["mlflow"]["service_account"] = {
            "username": name,
            "password_file": str(secret),
        }
        results.append(run_cli("check-config", "--config", str(write_config(tmp_path, config))))
        assert written not in results[-1].stdout + results[-1].stderr
    ok, refused = results
    assert ok.returncode == 0 and f"service account {name!r} signed in" in ok.stdout, ok
    assert refused.returncode == 1 and f"service account {name!r} refused (401)" in refused.stderr


def test_the_root_listing_shows_what_the_auth_app_lets_each_user_read(stack):
    """Each experiment the gateway lists at the root is one MLflow lets the user list."""
    for experiment in stack.experiments:
        seed = f"{stack.gateway_url}{ARTIFACTS}/{experiment}/{RUN}/artifacts/listed.txt"
        assert requests.put(seed, data=b"l", headers=stack.headers(ADMIN), timeout=60).ok
    for user in ("manager", "reader", "runreader"):
        headers = stack.headers(user)
        listed = requests.get(f"{stack.gateway_url}{ARTIFACTS}", headers=headers, timeout=60)
        assert listed.status_code == 200, listed.text
        shown = {f["path"] for f in listed.json().get("files", [])} & set(stack.experiments)
        mlflow = {
            experiment
            for experiment in stack.experiments
            if requests.get(
                f"{stack.server.url}{ARTIFACTS}",
                params={"path": experiment},
                headers=headers,
                timeout=60,
            ).status_code
            != 403
        }
        assert shown == mlflow, (user, shown, mlflow)
    assert stack.experiments[3] not in shown_by(stack, "manager")  # DENY on e4


def shown_by(stack: Stack, user: str) -> set[str]:
    listed = requests.get(
        f"{stack.gateway_url}{ARTIFACTS}", headers=stack.headers(user), timeout=60
    )
    return {f["path"] for f in listed.json().get("files", [])}


@pytest.mark.parametrize("stack", ["3.17.2"], indirect=True)
def test_first_requests_of_64_distinct_users_cost_one_upstream_check_each(stack, tmp_path):
    """The tracking server is reached through a proxy that records every request head: 64
    users' first requests, all at once, make one auth-app question each (the answer proves the
    password too), and the crowd shares one `/server-info` lookup."""
    crowd = {f"crowd-{i:02d}-{uuid.uuid4().hex[:6]}": uuid.uuid4().hex for i in range(64)}
    in_parallel(lambda user: stack.admin.create_user(user, crowd[user]), crowd)
    with FaultProxy("127.0.0.1", int(stack.server.url.rsplit(":", 1)[1])) as proxy:
        # A wait long enough for a tracking server checking 64 passwords on a busy machine:
        # this test counts questions; the bounded wait has its own test.
        config = gateway_config(proxy.endpoint, tmp_path, timeout_seconds=60)
        process, url = start_mlflow_gateway(tmp_path, config)
        try:
            heads = proxy.capture()
            target = f"{url}{ARTIFACTS}/{stack.experiments[0]}/{RUN}/artifacts/crowd.txt"

            def first(user: str) -> int:
                headers = basic_header(user, crowd[user])
                return requests.get(target, headers=headers, timeout=60).status_code

            statuses = in_parallel(first, crowd, threads=64)
        finally:
            process.stop()
    assert set(statuses) == {404}, statuses  # default_permission READ: allowed, nothing there
    # Whether workspaces are on is one shared lookup, made as whichever caller came first.
    assert [target for _, target, _ in heads].count("/api/3.0/mlflow/server-info") <= 1
    asked = Counter(
        base64.b64decode(head["authorization"].split()[1]).decode().partition(":")[0]
        for _, target, head in heads
        if "authorization" in head and target != "/api/3.0/mlflow/server-info"
    )
    assert asked == dict.fromkeys(crowd, 1), asked
