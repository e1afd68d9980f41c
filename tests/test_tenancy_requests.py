"""Tenancy on real requests to local gateways: a prefix route with its own permission, merged
listings of a workspace's top level, and MLflow's refusals of bad workspace input (400 in
MLflow's shape, nothing stored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.teams import User

HEADER = "X-MLFLOW-WORKSPACE"
# the team owning a custom artifact_location="mlflow-artifacts:/team-x/..."; no '*'
XER = User("xer", {"prefix:team-x/": "EDIT"}, password="xer-pass-1f3a5c7e")
# EDIT on everything no key names, READ only on team-x's prefix
WIDE = User("wide", {"*": "EDIT", "prefix:team-x/": "READ"}, password="wide-pass-2e4b6d8f")
# all of workspace team-a but its experiment 3
ANA = User(
    "ana",
    {"workspace:team-a": "READ", "workspace:team-a:3": "NO_PERMISSIONS"},
    password="ana-pass-9c7a5e3b",
)


def _start(workdir: Path, config: dict) -> Gateway:
    workdir.mkdir(parents=True)
    (workdir / "gateway.yaml").write_text(yaml.safe_dump(config))
    root = workdir / "shared"
    args = ["--config", str(workdir / "gateway.yaml"), "--artifacts-destination", str(root)]
    process, url = start_gateway(workdir, args, clean_env())
    return Gateway(process, url, "local", root=root)


@pytest.fixture(scope="module")
def gateways(tmp_path_factory) -> Iterator[dict[str, Gateway]]:
    work = tmp_path_factory.mktemp("tenancy-requests")
    tenancy = {
        "workspaces": {"enabled": True},
        "destinations": {name: {"uri": str(work / "tenancy" / name)} for name in ("x", "a")},
        "routes": [
            {"prefix": "team-x/", "destination": "x"},
            {"workspace": "team-a", "destination": "a"},
        ],
        "auth": {"users": [u.config() for u in (XER, WIDE, ANA)]},
    }
    started = {}
    try:
        started["tenancy"] = _start(work / "tenancy", tenancy)
        started["required"] = _start(
            work / "required", {"workspaces": {"enabled": True, "require_header": True}}
        )
        started["off"] = _start(work / "off", {})
        yield started
    finally:
        for gw in started.values():
            gw.process.stop()


def api(gw: Gateway) -> str:
    return f"{gw.url}/api/2.0/mlflow-artifacts/artifacts"


def test_a_prefix_route_has_its_own_destination_and_permission(gateways):
    gw = gateways["tenancy"]
    path = "team-x/exp-1/r1/artifacts/model.txt"
    put = requests.put(f"{api(gw)}/{path}", data=b"x's", headers=XER.headers(), timeout=30)
    assert put.status_code == 200, put.text
    assert (gw.root.parent / "x" / path).read_bytes() == b"x's"  # in x's destination, as named
    assert not (gw.root / path).exists()
    overwrite = requests.put(f"{api(gw)}/{path}", data=b"!", headers=WIDE.headers(), timeout=30)
    assert overwrite.status_code == 403, overwrite.text  # its '*' does not reach a named prefix
    read = requests.get(f"{api(gw)}/{path}", headers=WIDE.headers(), timeout=30)
    assert read.status_code == 200 and read.content == b"x's"
    # xer has no '*': a segment no key names reaches nothing
    elsewhere = requests.put(f"{api(gw)}/5/r/a.txt", data=b"?", headers=XER.headers(), timeout=30)
    assert elsewhere.status_code == 403, elsewhere.text
    sibling = requests.put(f"{api(gw)}/team-xy/a.txt", data=b"?", headers=XER.headers(), timeout=30)
    assert sibling.status_code == 403, sibling.text


def test_a_workspace_listing_shows_only_what_the_caller_may_read(gateways):
    gw = gateways["tenancy"]
    for experiment in ("3", "4"):
        stored = gw.root.parent / "a" / "workspaces" / "team-a" / experiment / "r" / "f.txt"
        stored.parent.mkdir(parents=True)
        stored.write_bytes(b"f")
    headers = ANA.headers() | {HEADER: "team-a"}
    listed = requests.get(api(gw), headers=headers, timeout=30)  # MLflow: workspaces/team-a
    assert listed.status_code == 200, listed.text
    assert [f["path"] for f in listed.json()["files"]] == ["4"]
    explicit = requests.get(
        api(gw), params={"path": "workspaces/team-a"}, headers=headers, timeout=30
    )
    assert [f["path"] for f in explicit.json()["files"]] == ["4"]
    hidden = requests.get(f"{api(gw)}/3/r/f.txt", headers=headers, timeout=30)
    assert hidden.status_code == 403, hidden.text
    shown = requests.get(f"{api(gw)}/4/r/f.txt", headers=headers, timeout=30)
    assert shown.status_code == 200 and shown.content == b"f"
    as_b = requests.get(
        f"{api(gw)}/4/r/f.txt", headers=ANA.headers() | {HEADER: "team-b"}, timeout=30
    )
    assert as_b.status_code == 403, as_b.text


@pytest.mark.parametrize(
    ("gateway", "headers", "path", "code", "message"),
    [
        (
            "tenancy",
            {HEADER: "Team_A"},
            "1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Workspace name 'Team_A' must match the pattern",
        ),
        (
            "tenancy",
            {HEADER: ".."},
            "1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Workspace name '..' must match the pattern",
        ),
        (
            "tenancy",
            {HEADER: "a"},
            "1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Workspace name 'a' must be between 2 and 63 characters.",
        ),
        (
            "tenancy",
            {HEADER: "api"},
            "1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Workspace name 'api' is reserved",
        ),
        (
            "tenancy",
            {HEADER: "team-a"},
            "workspaces/team-b/1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Artifact path targets workspace 'team-b' but the workspace specified in the "
            "request is 'team-a'.",
        ),
        (
            "tenancy",
            {HEADER: "team-a"},
            "workspaces/",
            "INVALID_PARAMETER_VALUE",
            "Artifact paths prefixed with 'workspaces/' must include a workspace name.",
        ),
        (
            "required",
            {},
            "1/r/a",
            "INVALID_PARAMETER_VALUE",
            "Active workspace is required for artifact operations.",
        ),
        (
            "off",
            {HEADER: "team-a"},
            "1/r/a",
            "FEATURE_DISABLED",
            "Workspace APIs are not available: workspaces are not enabled on this server",
        ),
    ],
)
def test_bad_workspace_input_is_a_400_in_mlflows_shape(
    gateways, gateway, headers, path, code, message
):
    gw = gateways[gateway]
    auth = WIDE.headers() if gateway == "tenancy" else {}
    before = sorted(p for p in gw.root.parent.rglob("*") if p.is_file() and "shared" in p.parts)
    put = requests.put(f"{api(gw)}/{path}", data=b"no", headers=auth | headers, timeout=30)
    assert put.status_code == 400, put.text
    body = put.json()
    assert body["error_code"] == code and body["message"].startswith(message), body
    after = sorted(p for p in gw.root.parent.rglob("*") if p.is_file() and "shared" in p.parts)
    assert after == before


def test_an_empty_header_means_the_default_workspace(gateways):
    gw = gateways["required"]
    put = requests.put(f"{api(gw)}/1/r/a.txt", data=b"d", headers={HEADER: "default"}, timeout=30)
    assert put.status_code == 200 and (gw.root / "1/r/a.txt").read_bytes() == b"d"
    gw = gateways["tenancy"]
    headers = WIDE.headers() | {HEADER: ""}
    put = requests.put(f"{api(gw)}/2/r/a.txt", data=b"e", headers=headers, timeout=30)
    assert put.status_code == 200 and (gw.root / "2/r/a.txt").read_bytes() == b"e"
