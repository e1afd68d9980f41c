"""`/metrics` and the access log, scraped and read after a mixed workload on a real gateway.

The gateway has client auth, a local destination and the echo server as its tracking server
(with a short read timeout, so `/slow` is a 504); it logs JSON at debug level.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.guarded import OWNER, STRANGER, WRONG, forget, received
from tests.helpers.metrics_text import Samples, delta, samples, value
from tests.helpers.processes import wait_until
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.teams import User
from tests.helpers.upstreams import start_echo, stopping

SCRAPER = User("scraper", {}, password="scraper-pass-4e6a8c0b", metrics=True)
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
FILE_ROUTE = ARTIFACTS + "/{path}"
MPU = "/api/2.0/mlflow-artifacts/mpu"


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=30, **kwargs)


def put(url: str, **kwargs) -> requests.Response:
    return requests.put(url, timeout=30, **kwargs)


def post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=30, **kwargs)


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    response = get(f"{url}/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.text)


def access_lines(gateway: Gateway) -> list[dict]:
    lines = [json.loads(line) for line in gateway.process.log_text().splitlines() if line]
    return [line for line in lines if line["logger"] == "gateway.access"]


def _config(workdir: Path, **metrics: bool) -> Path:
    users = [OWNER.config(), STRANGER.config(), SCRAPER.config()]
    # Workspaces set off: the upstream's /server-info is not asked, so the upstream counts
    # below are the workload's own requests.
    config = {"auth": {"users": users}, "metrics": metrics, "workspaces": {"enabled": False}}
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator:
    with stopping(start_echo(tmp_path_factory.mktemp("obs-echo"))) as server:
        yield server


@pytest.fixture(scope="module")
def observed(tmp_path_factory, echo) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("observed")
    root = workdir / "mlartifacts"
    args = [
        *("--config", str(_config(workdir)), "--artifacts-destination", str(root)),
        *("--tracking-uri", echo.url, "--upstream.read-timeout", "1"),
        *("--log-format", "json", "--log-level", "debug"),
    ]
    process, url = start_gateway(workdir, args, clean_env())
    try:
        yield Gateway(process, url, "local", root=root)
    finally:
        process.stop()


def _multipart(url: str, directory: str, *, complete: bool) -> None:
    auth = OWNER.headers()
    created = post(
        f"{url}{MPU}/create/{directory}", json={"path": "m.bin", "num_parts": 1}, headers=auth
    )
    assert created.status_code == 200, created.text
    upload_id = created.json()["upload_id"]
    if not complete:
        body = {"path": "m.bin", "upload_id": upload_id}
        assert post(f"{url}{MPU}/abort/{directory}", json=body, headers=auth).ok
        return
    part = put(created.json()["credentials"][0]["url"], data=b"p" * 1000)
    assert part.status_code == 200, part.text
    parts = [{"part_number": 1, "etag": part.headers["ETag"]}]
    body = {"path": "m.bin", "upload_id": upload_id, "parts": parts}
    done = post(f"{url}{MPU}/complete/{directory}", json=body, headers=auth)
    assert done.status_code == 200, done.text


def test_counters_and_histograms_move_by_the_workload(observed, echo):
    url, api, auth = observed.url, f"{observed.url}{ARTIFACTS}", OWNER.headers()
    run = f"7/{uuid.uuid4().hex}/artifacts"
    bodies = [os.urandom(n) for n in (1, 4096, 300_000)]
    before = scrape(url)
    for i, body in enumerate(bodies):
        assert put(f"{api}/{run}/f{i}", data=body, headers=auth).status_code == 200
    assert get(f"{api}/{run}/f2", headers=auth).content == bodies[2]
    assert get(f"{api}/{run}/missing", headers=auth).status_code == 404
    assert put(f"{api}/{run}/x", data=b"no").status_code == 401
    assert put(f"{api}/{run}/x", data=b"no", headers=WRONG).status_code == 401
    assert get(f"{api}/{run}/f0", headers=STRANGER.headers()).status_code == 403
    assert get(f"{url}/teapot", headers=auth).status_code == 418
    assert get(f"{url}/slow", headers=auth).status_code == 504
    _multipart(url, run, complete=True)
    _multipart(url, run, complete=False)
    after = scrape(url)

    requests_total = "gateway_http_requests_total"
    for method, status, count in (("PUT", "200", 3), ("GET", "200", 1), ("GET", "404", 1)):
        labels = {"route": FILE_ROUTE, "method": method, "status": status}
        assert delta(before, after, requests_total, **labels) == count, labels
    assert delta(before, after, requests_total, route=FILE_ROUTE, method="PUT", status="401") == 2
    assert delta(before, after, requests_total, route=FILE_ROUTE, method="GET", status="403") == 1
    for status in ("418", "504"):
        labels = {"route": "passthrough", "method": "GET", "status": status}
        assert delta(before, after, requests_total, **labels) == 1, status
    histogram = "gateway_http_request_duration_seconds_count"
    assert delta(before, after, histogram, route=FILE_ROUTE, method="PUT") == 5
    inf = {"route": FILE_ROUTE, "method": "PUT", "le": "+Inf"}
    assert delta(before, after, "gateway_http_request_duration_seconds_bucket", **inf) == 5
    # Bytes: the bodies sent (three PUTs and one 1000-byte part), the one file read back.
    uploaded = delta(before, after, "gateway_uploaded_bytes_total", destination="default")
    assert uploaded == sum(map(len, bodies)) + 1000
    downloaded = delta(before, after, "gateway_downloaded_bytes_total", destination="default")
    assert downloaded == len(bodies[2])
    for direction in ("upload", "download"):
        assert value(after, "gateway_transfers_in_flight", direction=direction) == 0
    assert delta(before, after, "gateway_backend_errors_total", destination="default", code="-")
    for event, count in (("created", 2), ("completed", 1), ("aborted", 1)):
        assert delta(before, after, "gateway_multipart_uploads_total", event=event) == count
    assert delta(before, after, "gateway_auth_total", outcome="unauthenticated") == 2
    assert delta(before, after, "gateway_auth_total", outcome="denied") == 1
    assert delta(before, after, "gateway_auth_total", outcome="ok") == 11
    assert delta(before, after, "gateway_upstream_errors_total", kind="timeout") == 1
    assert delta(before, after, "gateway_upstream_request_duration_seconds_count") == 2
    assert value(after, "process_resident_memory_bytes") > 0


def test_metrics_name_no_secret_user_or_artifact_path(observed):
    run = f"7/{uuid.uuid4().hex}/artifacts"
    api = f"{observed.url}{ARTIFACTS}"
    put(f"{api}/{run}/secret-name.txt", data=b"x", headers=OWNER.headers())
    get(f"{api}/{run}/secret-name.txt", headers=STRANGER.headers())
    text = get(f"{observed.url}/metrics").text
    assert "gateway_uploaded_bytes_total" in text and run not in text
    for leak in ("secret-name", "owner", "stranger", "scrypt", OWNER.token, STRANGER.password):
        assert leak not in text, leak


def test_one_json_access_line_per_request_with_the_id_the_client_got(observed, echo):
    api = f"{observed.url}{ARTIFACTS}"
    run = f"7/{uuid.uuid4().hex}/artifacts"
    mine = f"client-{uuid.uuid4().hex}"
    forget(echo.url)
    responses = [
        put(f"{api}/{run}/a", data=b"abc", headers=OWNER.headers()),
        get(f"{api}/{run}/a", headers=OWNER.headers() | {"X-Request-ID": mine}),
        get(f"{api}/{run}/nope", headers=OWNER.headers()),
        get(f"{observed.url}/api/2.0/mlflow/experiments/get", headers=OWNER.headers()),
        get(f"{api}/{run}/a", headers={"X-Request-ID": "bad id " + "x" * 200}),
    ]
    ids = [r.headers["X-Request-ID"] for r in responses]
    assert ids[1] == mine and len(set(ids)) == len(ids)
    assert ids[4] != "bad id " + "x" * 200  # an unacceptable ID is replaced
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 401]
    # The line is written once the response is sent, so the client may read it first.
    wait_until(lambda: {line["request_id"] for line in access_lines(observed)} >= set(ids), 10)
    lines = {
        line["request_id"]: line for line in access_lines(observed) if line["request_id"] in ids
    }
    assert sorted(lines) == sorted(ids)
    assert all(sum(line["request_id"] == i for line in access_lines(observed)) == 1 for i in ids)
    put_line, get_line = lines[ids[0]], lines[ids[1]]
    assert (put_line["user"], put_line["method"], put_line["route"], put_line["status"]) == (
        "owner",
        "PUT",
        FILE_ROUTE,
        200,
    )
    assert (put_line["experiment"], put_line["destination"], put_line["bytes_in"]) == (
        "7",
        "default",
        3,
    )
    assert (
        put_line["remote"] == "127.0.0.1"
        and put_line["duration"] >= 0
        and put_line["time"].endswith("Z")
    )
    assert get_line["bytes_out"] >= 3 and get_line["bytes_in"] == 0
    assert lines[ids[3]]["route"] == "passthrough" and lines[ids[4]]["user"] == "-"
    # The store's error line carries the same ID; the tracking server got it too.
    log = [json.loads(line) for line in observed.process.log_text().splitlines()]
    errors = [line for line in log if line["logger"] == "gateway.http.errors"]
    assert any(line["request_id"] == ids[2] and "NotFound" in line["message"] for line in errors)
    echoed = responses[3].json()
    assert dict((k.lower(), v) for k, v in echoed["headers"])["x-request-id"] == ids[3]
    assert [r["path"] for r in received(echo.url)] == ["/api/2.0/mlflow/experiments/get"]


def test_metrics_can_require_the_metrics_permission_or_be_off(tmp_path):
    root = tmp_path / "mlartifacts"
    config = _config(tmp_path, require_permission=True)
    args = ["--config", str(config), "--artifacts-destination", str(root)]
    process, url = start_gateway(tmp_path, args, clean_env(), name="guarded-metrics")
    try:
        assert get(f"{url}/metrics").status_code == 401
        refused = get(f"{url}/metrics", headers=OWNER.headers())
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
        assert "gateway_auth_total" in get(f"{url}/metrics", headers=SCRAPER.headers()).text
    finally:
        process.stop()
    off = ["--artifacts-destination", str(root), "--no-metrics.enabled"]
    process, url = start_gateway(tmp_path, off, clean_env(), name="no-metrics")
    try:
        response = get(f"{url}/metrics")
        assert response.status_code == 404 and response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    finally:
        process.stop()


def _raw(url: str, request: bytes) -> bytes:
    """Sends one raw request and returns the answer (the gateway closes after a parser error)."""
    parsed = urllib.parse.urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b"Connection: close" not in answer:
                break
    return answer


def _log_lines(gateway: Gateway) -> list[dict]:
    return [json.loads(line) for line in gateway.process.log_text().splitlines() if line]


def test_requests_aiohttp_cannot_parse_get_one_access_line_and_no_traceback(observed):
    """Review finding 8: a parser 400 logged two ERROR tracebacks and no access line."""
    host = urllib.parse.urlsplit(observed.url).netloc
    malformed = [
        f"GET /health HTTP/1.1\r\nHost: {host}\r\nBad Header: x\r\n\r\n".encode(),
        f"get /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
    ]
    before = len(_log_lines(observed))
    for request in malformed:
        assert _raw(observed.url, request).split(b"\r\n")[0].endswith(b" 400 Bad Request")

    def new_lines() -> list[dict]:
        return _log_lines(observed)[before:]

    def access_400s() -> list[dict]:
        return [x for x in new_lines() if x["logger"] == "gateway.access" and x["status"] == 400]

    assert wait_until(lambda: len(access_400s()) >= 2, 10), new_lines()
    assert len(access_400s()) == 2
    assert all(line["remote"] == "127.0.0.1" for line in access_400s())
    assert [x for x in new_lines() if x["level"] == "error"] == []


def test_options_asterisk_is_a_400_and_reaches_no_tracking_server(observed, echo):
    """Review finding 8: `OPTIONS *` from a known user built `http://host:port*`, a 500."""
    host = urllib.parse.urlsplit(observed.url).netloc
    token = OWNER.headers()["Authorization"]
    forget(echo.url)
    request = f"OPTIONS * HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n\r\n"
    answer = _raw(observed.url, request.encode())
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b'"error_code": "INVALID_PARAMETER_VALUE"' in answer
    assert received(echo.url) == []
