"""Tenancy configuration as operators meet it: the nested-destination breach of issue 21
refused at start-up and by `check-config`, and the routes table with workspaces and prefixes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.config import load_settings
from gateway.routing.table import RoutingTable
from gateway.tenancy import key_of
from tests.helpers.cli import run_cli, write_config
from tests.helpers.stack import clean_env

S3 = {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "access_key_id": "k"}


def nested_config() -> dict:
    """Issue 21's reproduction: `restricted` lies inside the default destination."""
    return {
        "destinations": {
            "company": {"uri": "s3://art/company", **S3, "secret_access_key": "s-company"},
            "restricted": {
                "uri": "s3://art/company/restricted",
                **S3,
                "secret_access_key": "s-restricted",
            },
        },
        "routes": [{"experiments": ["2"], "destination": "restricted"}],
        "default_destination": "company",
    }


def test_nested_destinations_stop_a_real_start_up(tmp_path):
    config = write_config(tmp_path, nested_config())
    argv = [sys.executable, "-m", "gateway", "--config", str(config), "--port", "0"]
    result = subprocess.run(
        argv, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert (
        "destinations.restricted: s3://art/company/restricted lies inside destination "
        "'company' (s3://art/company)" in result.stderr
    )
    assert "Traceback" not in result.stderr and "s-company" not in result.stderr


@pytest.mark.parametrize("command", ["check-config", "routes"])
def test_check_config_and_routes_say_the_same(tmp_path, command):
    result = run_cli(command, "--config", str(write_config(tmp_path, nested_config())))
    assert result.returncode == 2
    assert "s3://art/company/restricted lies inside destination 'company'" in result.stderr


def test_routes_by_workspace_experiment_and_prefix(tmp_path):
    config = {
        "destinations": {
            name: {"uri": str(tmp_path / name)} for name in ("team-a", "shared", "x", "a7")
        },
        "routes": [
            {"workspace": "team-a", "destination": "team-a"},
            {"workspace": "team-a", "experiments": ["7"], "destination": "a7"},
            {"prefix": "team-x/", "destination": "x"},
        ],
        "default_destination": "shared",
    }
    settings = load_settings(["--config", str(write_config(tmp_path, config))])
    table = RoutingTable.from_settings(settings)
    expected = {
        "workspaces/team-a/3/r/a": "team-a",
        "workspaces/team-a/7/r/a": "a7",
        "workspaces/team-a/team-x/m": "x",  # a prefix names less than a workspace
        "team-x/m": "x",
        "workspaces/team-b/team-x/m": "x",
        "7/r/a": "shared",  # experiment 7 of team-a's route is named with its workspace
        "workspaces/team-b/3/r": "shared",
        "workspaces": "shared",
    }
    assert {path: table.destination_of(key_of(path)) for path in expected} == expected
    result = run_cli("routes", "--config", str(write_config(tmp_path, config)))
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["route", "destination"],
        ["workspace:team-a:7", "a7"],
        ["prefix:team-x/", "x"],
        ["workspace:team-a", "team-a"],
        ["*", "shared"],
    ]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"destination": "a"}, "a route names a workspace, experiments or a prefix"),
        ({"experiments": ["1"], "prefix": "p/", "destination": "a"}, "not both"),
        ({"workspace": "Team_A", "destination": "a"}, "must match the pattern"),
        ({"prefix": "workspaces/x/", "destination": "a"}, "name a workspace with 'workspace'"),
        ({"prefix": "../x", "destination": "a"}, "must be one or more path segments"),
    ],
)
def test_bad_routes_say_why(tmp_path, route, message):
    config = {"destinations": {"a": {"uri": str(tmp_path)}}, "routes": [route]}
    result = run_cli("check-config", "--config", str(write_config(tmp_path, config)))
    assert result.returncode == 2 and message in result.stderr, result.stderr
