"""Every route the gateway registers, called anonymously, with wrong credentials, by a known user
without the permission, by a caller of another workspace (workspaces on) and by one with the
permission: the status, and whether anything reached the upstream
(the echo server records it) or the destination (its files before and after).

The routes come from the application's own route table, in both shapes (with an upstream and
artifacts only), so a route added later without a rule or an exercise fails here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
import requests

from gateway.auth.config import AuthConfig, UserConfig
from gateway.auth.passwords import hash_secret
from gateway.config import load_settings
from gateway.http.app import build_app
from gateway.http.guard import RULES, UNMATCHED, Artifact, Identified, Open, Rule, Signed, Tracking
from gateway.http.routes.passthrough import Passthrough
from gateway.routing.destinations import Destinations
from gateway.stores.local import LocalStore
from tests.helpers import guarded
from tests.helpers.guarded import CASES, Guarded, forget, received, snapshot
from tests.helpers.route_exercises import exercise_for
from tests.helpers.upstreams import start_echo, stopping

SHAPES = ("tracking", "artifacts-only")
SERVER_INFO = "/api/3.0/mlflow/server-info"
# neighbour: a caller of workspace team-x in workspace team-y, where every path is team-y's
REFUSED = {"anonymous": 401, "wrong": 401, "stranger": 403, "neighbour": 403}
EXPECTED: dict[type[Rule], dict[str, int]] = {
    Artifact: REFUSED,
    Tracking: REFUSED,
    Signed: {"anonymous": 403, "wrong": 403, "stranger": 403, "neighbour": 403},
    Open: {},
    Identified: {},
}
LOOKUPS = {
    "/api/2.0/mlflow/runs/get",
    "/api/2.0/mlflow/model-versions/get-download-uri",
    "/api/2.0/mlflow/logged-models/gw-7",
    "/api/3.0/mlflow/traces/gw-7",
}
# Routes the gateway answers only for storage it presigns: on the local destination here the
# request itself goes on to the tracking server after the lookup, and nothing is written.
FORWARDED_AFTER_LOOKUP = ("/artifacts/presigned-upload-url", "/artifacts/presigned-download-url")


def application(shape: str):
    """The app as `artifact-gateway` builds it (not started): its routes and their rules."""
    where = tempfile.gettempdir()
    args = ["--artifacts-destination", where]
    if shape == "tracking":
        args += ["--tracking-uri", "http://127.0.0.1:9"]
    settings = load_settings(args)
    settings.auth = AuthConfig(users=[UserConfig(name="u", password_hash=hash_secret("p", n=2))])
    return build_app(settings, Destinations(LocalStore(where, 65536)))


APPS = {shape: application(shape) for shape in SHAPES}
ROUTES = [
    (shape, route.method, route.resource.canonical, app[RULES].get(route))
    for shape, app in APPS.items()
    for route in app.router.routes()
    if route.resource is not None
]


def test_every_registered_route_has_a_rule_and_an_exercise(measurements):
    for shape, app in APPS.items():
        assert len(ROUTES) and all(r.resource is not None for r in app.router.routes()), shape
    problems = []
    for shape, method, path, rule in ROUTES:
        found = exercise_for(path)
        if rule is None or found is None or not isinstance(rule, found[0]):
            problems.append(f"{shape} {method} {path}: rule {rule!r}, exercise {found}")
    assert not problems, problems
    assert isinstance(APPS["tracking"][UNMATCHED], Passthrough)
    assert UNMATCHED not in APPS["artifacts-only"]
    counts = {shape: sum(r[0] == shape for r in ROUTES) for shape in SHAPES}
    measurements.append(f"route rules: every registered route exercised: {counts}")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Iterator[dict[str, Guarded]]:
    with (
        stopping(start_echo(tmp_path_factory.mktemp("rules-echo"))) as echo,
        guarded.running(
            tmp_path_factory.mktemp("rules-tracking"), echo.url, workspaces=True
        ) as tracking,
        guarded.running(tmp_path_factory.mktemp("rules-plain"), None, workspaces=True) as plain,
    ):
        yield {"tracking": Guarded(tracking, echo.url), "artifacts-only": Guarded(plain, None)}


def _check_upstream(rule: Rule, path: str, case: str, status: int, seen: list[dict]) -> None:
    if status != 401 and isinstance(rule, Artifact | Tracking):
        # known callers: whether workspaces are on (http/workspaces), or its cached answer
        seen = [r for r in seen if r["path"] != SERVER_INFO]
    if status == 401 or isinstance(rule, Artifact | Signed):
        assert seen == [], seen
    elif isinstance(rule, Identified) and path == "/ready":  # probes the upstream for anyone,
        # or answers from the round another caller started less than READY_REUSE s ago
        assert [r["path"] for r in seen] in ([], ["/health"]), seen
    elif isinstance(rule, Identified):  # known callers: the lookup, or its cached answer
        known = case in ("stranger", "neighbour", "owner")
        allowed = ([], [SERVER_INFO]) if known else ([],)
        assert [r["path"] for r in seen] in allowed, seen
    elif isinstance(rule, Tracking) and path.endswith(FORWARDED_AFTER_LOOKUP):
        assert [r["path"] for r in seen][:1] == ["/api/2.0/mlflow/runs/get"], seen
        assert [r["path"] for r in seen][1:] == ([path] if case == "owner" else []), seen
    elif isinstance(rule, Tracking):  # known users: the lookup only, the gateway answers
        assert seen and {r["path"] for r in seen} <= LOOKUPS, seen


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    ("shape", "method", "path", "rule"), ROUTES, ids=[f"{s}-{m}-{p}" for s, m, p, _ in ROUTES]
)
def test_route_answers_each_caller_by_its_rule(shapes, shape, method, path, rule, case):
    g = shapes[shape]
    found = exercise_for(path)
    assert found is not None and rule is not None
    prepared = found[1](g, method, path, case)
    before = snapshot(g.root)
    if g.echo_url:
        forget(g.echo_url)
    response = prepared.send(method, CASES[case])
    expected = EXPECTED[type(rule)].get(case, 200)
    assert response.status_code == expected, (response.status_code, response.text)
    if expected != 200:
        assert snapshot(g.root) == before, "a refused request changed the destination"
        if method != "HEAD":
            assert set(response.json()) - {"sqlstate", "error_class"} == {"error_code", "message"}
    elif method not in ("GET", "HEAD") and not path.endswith(FORWARDED_AFTER_LOOKUP):
        assert snapshot(g.root) != before, "an allowed write changed nothing"
    if g.echo_url:
        _check_upstream(rule, path, case, expected, received(g.echo_url))


@pytest.mark.parametrize("case", list(CASES))
def test_unmatched_routes_go_upstream_only_for_known_callers(shapes, case):
    """The passthrough: any known user (the tracking server checks experiments itself)."""
    g = shapes["tracking"]
    assert g.echo_url is not None
    forget(g.echo_url)
    url = f"{g.url}/api/2.0/mlflow/experiments/search"
    response = requests.post(url, json={"max_results": 1}, headers=CASES[case], timeout=30)
    seen = received(g.echo_url)
    if case in ("anonymous", "wrong"):
        assert response.status_code == 401 and seen == [], (response.text, seen)
    else:
        assert response.status_code == 200, response.text
        assert [r["path"] for r in seen] == ["/api/2.0/mlflow/experiments/search"]
