"""What strangers learn: anonymous `/ready` says only ready or not, upstream failures do not name
the tracking server's address, and `/version` stays open with an upstream and auth on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml

from gateway.http.routes.health import READY_REUSE
from tests.helpers.processes import free_port
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.teams import READER
from tests.helpers.upstreams import Server, start_echo, stopping


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator[Server]:
    with stopping(start_echo(tmp_path_factory.mktemp("exposure-echo"))) as server:
        yield server


def _start(workdir, tracking_uri: str, *extra: str) -> Gateway:
    root = workdir / "mlartifacts"
    args = ["--artifacts-destination", str(root), "--tracking-uri", tracking_uri, *extra]
    process, url = start_gateway(workdir, args, clean_env())
    return Gateway(process, url, "local", root=root)


@pytest.fixture(scope="module")
def guarded(echo, tmp_path_factory) -> Iterator[Gateway]:
    """Auth on, in front of the echo server; its upstream gives up after 2 s."""
    workdir = tmp_path_factory.mktemp("guarded")
    config = workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump({"auth": {"users": [READER.config()]}}))
    args = ("--config", str(config), "--upstream.read-timeout", "2")
    with stopping(_start(workdir, echo.url, *args)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def orphan(tmp_path_factory) -> Iterator[tuple[Gateway, str]]:
    """Its tracking server is not there: nothing listens on the port."""
    upstream = f"http://127.0.0.1:{free_port()}"
    with stopping(_start(tmp_path_factory.mktemp("exposed-orphan"), upstream)) as gateway:
        yield gateway, upstream


def test_anonymous_readiness_says_only_ready_or_not(guarded, echo, orphan):
    resp = requests.get(f"{guarded.url}/ready", timeout=60)
    assert resp.status_code == 200 and resp.json() == {"ready": True}
    gateway, upstream = orphan
    resp = requests.get(f"{gateway.url}/ready", timeout=60)
    assert resp.status_code == 503 and resp.json() == {"ready": False}
    for internal in (echo.url, upstream, str(guarded.root), str(gateway.root)):
        assert internal.removeprefix("http://") not in resp.text


def _health_checks(echo: Server) -> int:
    received = requests.get(f"{echo.url}/_received", timeout=30).json()
    return sum(1 for r in received if r["path"] == "/health")


def test_a_burst_of_ready_calls_shares_one_probe_round(guarded, echo):
    """Anyone may call `/ready`: 30 calls must not become 30 calls to the tracking server.

    One round serves the calls that arrive while it runs and for 1 s after (`READY_REUSE`);
    the burst takes far less than that here, and even a loaded machine stays under three rounds.
    """
    time.sleep(READY_REUSE + 0.5)  # past the reuse window of any earlier test's round
    requests.delete(f"{echo.url}/_received", timeout=30).raise_for_status()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(
            pool.map(lambda _: requests.get(f"{guarded.url}/ready", timeout=60), range(30))
        )
    assert [a.status_code for a in answers] == [200] * 30
    burst = _health_checks(echo)
    assert 1 <= burst <= 3, f"{burst} tracking-server checks for 30 /ready calls"
    time.sleep(READY_REUSE + 0.5)  # the window has passed: the next call probes again
    assert requests.get(f"{guarded.url}/ready", timeout=60).status_code == 200
    assert _health_checks(echo) == burst + 1


def test_known_users_see_the_readiness_details(guarded, echo):
    report = requests.get(f"{guarded.url}/ready", headers=READER.headers(), timeout=60).json()
    assert report["upstream"] == {"url": echo.url, "ready": True}
    assert report["destinations"] == [{"name": "default", "uri": str(guarded.root), "ready": True}]


def test_ready_details_shows_them_to_everyone(tmp_path):
    upstream = f"http://127.0.0.1:{free_port()}"
    with stopping(_start(tmp_path, upstream, "--ready-details")) as gateway:
        report = requests.get(f"{gateway.url}/ready", timeout=60).json()
    assert report["ready"] is False and report["upstream"]["url"] == upstream
    assert report["upstream"]["ready"] is False and report["upstream"]["error"]
    assert [d["ready"] for d in report["destinations"]] == [True]


def test_upstream_failures_say_the_tracking_server_and_log_its_address(guarded, echo, orphan):
    gateway, upstream = orphan
    missing = requests.post(f"{gateway.url}/api/2.0/mlflow/runs/search", json={}, timeout=60)
    assert missing.status_code == 502
    assert missing.json() == {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "The tracking server is unavailable",
        "sqlstate": "XXM00",  # MLflow 3.18's, for that code
        "error_class": "CLIENT_INTERNAL_ERROR",
    }
    lookup = requests.get(f"{gateway.url}/get-artifact?run_id=r&path=a.txt", timeout=60)
    assert lookup.status_code == 502 and upstream not in lookup.text
    slow = requests.get(f"{guarded.url}/slow", headers=READER.headers(), timeout=60)
    assert slow.status_code == 504
    assert slow.json() == {
        "error_code": "DEADLINE_EXCEEDED",
        "message": "The tracking server did not answer in time",
    }
    assert upstream in gateway.process.log_text() and echo.url in guarded.process.log_text()


def test_version_is_open_with_an_upstream_and_asked_without_the_callers_headers(guarded):
    for headers in ({}, READER.headers() | {"Cookie": "session=s3cr3t"}):
        resp = requests.get(f"{guarded.url}/version", headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        echoed = resp.json()
        assert echoed["raw_path"] == "/version"
        sent = {name.lower() for name, _ in echoed["headers"]}
        assert not sent & {"authorization", "cookie", "x-forwarded-for"}, sent
    assert requests.get(f"{guarded.url}/api/2.0/mlflow/runs/search", timeout=30).status_code == 401
