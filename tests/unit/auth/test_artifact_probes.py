"""gateway/auth/artifact_probes.py: each probe is judged by MLflow as the caller's path is.

The oracle is MLflow's own classifier, `_artifact_proxy_child` in mlflow/server/auth (3.17.2,
the suite's venv): for every action and path, the tiers and experiment the probes are judged
on are the ones the caller's request is judged on.
"""

from __future__ import annotations

import pytest
from mlflow.server import auth  # needs Flask-WTF: the test extra installs mlflow[auth]

from gateway.auth.actions import Action
from gateway.auth.artifact_probes import ARTIFACTS, MPU_CREATE, probes_for

_ACTION = {Action.READ: "read", Action.WRITE: "update", Action.DELETE: "manage"}
PATHS = [
    "7",
    "7/0123456789abcdef0123456789abcdef",
    "7/0123456789abcdef0123456789abcdef/artifacts/model/MLmodel",
    "7/run-name/artifacts/x.txt",
    "7/models",
    "7/models/m-1/artifacts/model.pkl",
    "7/traces/tr-1/artifacts/traces.json",
    "7/plain.txt",
    "7/dir/sub",
    "workspaces/team-a/7",
    "workspaces/team-a/7/models/m/artifacts/a",
    "team-x/custom/location.txt",
]


def judged(path: str, action: str) -> object:
    child = auth._artifact_proxy_child(path, action)
    return child if child is None else (tuple(sorted(child[0])), child[1])


def probe_path(probe) -> str:
    if probe.query is not None:
        return probe.query
    for route in (f"{MPU_CREATE}/", f"{ARTIFACTS}/"):
        if probe.route.startswith(route):
            return probe.route.removeprefix(route)
    raise AssertionError(probe)


@pytest.mark.parametrize("path", PATHS)
def test_read_and_write_probes_ask_about_the_very_path(path):
    (read,) = probes_for(Action.READ, path)
    (write,) = probes_for(Action.WRITE, path)
    assert (read.method, read.route, read.query, read.json) == ("GET", ARTIFACTS, path, None)
    assert (write.method, write.route, write.json) == ("POST", f"{MPU_CREATE}/{path}", {})


@pytest.mark.parametrize("path", PATHS)
def test_a_delete_probe_is_judged_like_the_path_and_names_nothing_that_exists(path):
    probes = probes_for(Action.DELETE, path)
    assert all(p.method == "DELETE" and "gateway-probe-" in p.route for p in probes)
    expected = judged(path, "manage")
    if expected is None:
        assert [judged(probe_path(p), "manage") for p in probes] == [None]
        return
    tiers = sorted(tier for p in probes for tier in judged(probe_path(p), "manage")[0])
    experiments = {judged(probe_path(p), "manage")[1] for p in probes}
    assert (tuple(tiers), experiments) == (expected[0], {expected[1]})


def test_delete_probes_are_fresh_names_but_remembered_under_one_key():
    first, second = probes_for(Action.DELETE, "7/x"), probes_for(Action.DELETE, "7/x")
    assert first[0].route != second[0].route and first[0].key == second[0].key == "7/x"
    assert len({p.key for p in probes_for(Action.DELETE, "7")}) == 3
