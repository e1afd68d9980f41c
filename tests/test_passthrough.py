"""The proxy itself, against an echo server that reports what reached it and answers oddly.

The real tracking server is behind the gateway in test_tracking_server.py; here the upstream
must show what MLflow never does: compressed answers, hop-by-hop headers, slow or dripping bodies.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import requests

from tests.helpers import echo_upstream
from tests.helpers.processes import free_port
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.upstreams import Server, start_echo, stopping

TOKEN = "Bearer passthrough-token-5be1c0de"


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator[Server]:
    with stopping(start_echo(tmp_path_factory.mktemp("echo"))) as server:
        yield server


def _gateway(workdir, tracking_uri: str, *extra: str) -> Gateway:
    args = ["--artifacts-destination", str(workdir / "mlartifacts"), "--tracking-uri", tracking_uri]
    process, url = start_gateway(workdir, [*args, *extra], clean_env())
    return Gateway(process, url, "local", root=workdir / "mlartifacts")


@pytest.fixture(scope="module")
def proxy(echo, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("proxy")
    with stopping(_gateway(workdir, echo.url, "--upstream.read-timeout", "3")) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def orphan(tmp_path_factory) -> Iterator[Gateway]:
    """A gateway whose tracking server is not there: nothing listens on its port."""
    closed_port = f"http://127.0.0.1:{free_port()}"
    with stopping(_gateway(tmp_path_factory.mktemp("orphan"), closed_port)) as gateway:
        yield gateway


def header_map(echoed: dict) -> dict[str, str]:
    return {name.lower(): value for name, value in echoed["headers"]}


def test_request_reaches_upstream_unchanged_but_for_hop_headers(proxy, echo):
    body = os.urandom(3 * 1024 * 1024)
    headers = {
        "Authorization": TOKEN,
        "Cookie": "session=abc",
        "X-Custom": "kept",
        "Content-Type": "application/x-protobuf",
        "Connection": "keep-alive, X-Hop-Only",
        "X-Hop-Only": "dropped",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
    }
    target = f"{proxy.url}/api/2.0/mlflow/runs/log-batch?b=2&a=%2F%20x&a=3"
    resp = requests.post(target, data=body, headers=headers, timeout=60)
    assert resp.status_code == 200, resp.text
    echoed = resp.json()
    assert echoed["method"] == "POST"
    assert echoed["raw_path"] == "/api/2.0/mlflow/runs/log-batch"
    assert echoed["raw_query"] == "b=2&a=%2F%20x&a=3"
    assert echoed["body_size"] == len(body)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    seen = header_map(echoed)
    assert seen["authorization"] == TOKEN
    assert seen["cookie"] == "session=abc" and seen["x-custom"] == "kept"
    assert seen["content-type"] == "application/x-protobuf"
    assert seen["content-length"] == str(len(body))
    for hop in ("x-hop-only", "keep-alive", "proxy-authorization", "transfer-encoding"):
        assert hop not in seen, hop
    assert seen["host"] == echo.url.removeprefix("http://")
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == proxy.url.removeprefix("http://")
    assert TOKEN not in proxy.process.log_text()


CLAIMS = {
    "Forwarded": "for=203.0.113.9;proto=https;host=evil.example",
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "203.0.113.9",
}


def test_forwarding_headers_from_a_client_are_replaced_by_what_the_gateway_saw(proxy):
    """Without --trusted-proxies any caller could claim an address, scheme or host upstream."""
    seen = header_map(requests.get(f"{proxy.url}/echo", headers=CLAIMS, timeout=30).json())
    assert "forwarded" not in seen and "x-real-ip" not in seen
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == proxy.url.removeprefix("http://")


def test_a_trusted_proxys_forwarding_headers_are_kept_and_appended_to(echo, tmp_path):
    """Its X-Forwarded-Host is also the name the Host check judges."""
    args = ("--trusted-proxies", "127.0.0.0/8", "--allowed-hosts", "ml.example.com")
    claims = CLAIMS | {"X-Forwarded-Host": "ml.example.com"}
    with stopping(_gateway(tmp_path, echo.url, *args)) as trusting:
        seen = header_map(requests.get(f"{trusting.url}/echo", headers=claims, timeout=30).json())
        foreign = requests.get(f"{trusting.url}/echo", headers=CLAIMS, timeout=30)
    assert seen["forwarded"] == CLAIMS["Forwarded"] and seen["x-real-ip"] == "203.0.113.9"
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == "ml.example.com"
    assert_json_error(foreign, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "OPTIONS"])
def test_every_method_passes_and_adds_no_headers_of_its_own(proxy, method):
    """http.client sends only what it is told: no Accept, no Accept-Encoding, no body."""
    parsed = urllib.parse.urlsplit(proxy.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.putrequest(method, "/graphql", skip_accept_encoding=True)
        conn.putheader("User-Agent", "stock-ui")
        conn.endheaders()
        echoed = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    seen = header_map(echoed)
    assert echoed["method"] == method and echoed["body_size"] == 0
    assert "accept-encoding" not in seen and "accept" not in seen
    assert "content-type" not in seen and "transfer-encoding" not in seen
    assert seen["user-agent"] == "stock-ui"


def test_head_answer_has_the_upstream_headers_and_no_body(proxy):
    resp = requests.head(f"{proxy.url}/static-files/app.js", timeout=30)
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["Content-Type"].startswith("application/json")


def test_answer_headers_status_and_redirects_pass_unchanged(proxy):
    resp = requests.get(f"{proxy.url}/cookies", timeout=30)
    assert resp.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert resp.headers["X-Kept"] == "yes" and resp.text == "cookies"
    assert "X-Hop-Only" not in resp.headers and "Keep-Alive" not in resp.headers
    moved = requests.get(f"{proxy.url}/redirect", allow_redirects=False, timeout=30)
    assert moved.status_code == 302 and moved.headers["Location"] == "/elsewhere"
    teapot = requests.get(f"{proxy.url}/teapot", timeout=30)
    assert teapot.status_code == 418
    assert teapot.json() == {"error_code": "TEAPOT", "message": "short and stout"}


def test_compressed_answer_is_streamed_as_compressed_bytes(proxy):
    resp = requests.get(
        f"{proxy.url}/gzip", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30
    )
    raw = resp.raw.read(decode_content=False)
    assert raw == gzip.compress(echo_upstream.GZIP_PAYLOAD, mtime=0)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Content-Length"] == str(len(raw))
    assert gzip.decompress(raw) == echo_upstream.GZIP_PAYLOAD


def test_answer_is_streamed_before_the_upstream_has_finished(proxy, echo):
    """The upstream holds back the rest until released: a buffering proxy would hang here."""
    with requests.get(f"{proxy.url}/drip", stream=True, timeout=30) as resp:
        first = resp.raw.read(len(echo_upstream.DRIP_FIRST))
        assert first == echo_upstream.DRIP_FIRST
        assert requests.get(f"{echo.url}/release", timeout=30).status_code == 200
        assert resp.raw.read() == echo_upstream.DRIP_REST


def test_request_body_is_streamed_before_the_client_has_finished(proxy, echo):
    """The client sends its second piece only once the upstream holds the first."""
    first, rest = b"x" * 65536, b"y" * 65536

    def upstream_saw_first_piece() -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if requests.get(f"{echo.url}/seen", timeout=10).json()["first_chunk_seen"]:
                return True
            time.sleep(0.1)
        return False

    def body() -> Iterator[bytes]:
        yield first
        assert upstream_saw_first_piece(), "the gateway held the request body back"
        yield rest

    resp = requests.post(f"{proxy.url}/upload-drip", data=body(), timeout=60)
    assert resp.json() == {
        "body_size": len(first + rest),
        "body_sha256": hashlib.sha256(first + rest).hexdigest(),
    }


def assert_json_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code and body["message"], body
    assert "Traceback" not in resp.text
    return body


def test_slow_upstream_is_a_504_json_error(proxy):
    assert_json_error(requests.get(f"{proxy.url}/slow", timeout=60), 504, "DEADLINE_EXCEEDED")


def test_missing_upstream_is_a_502_and_artifacts_keep_working(orphan):
    resp = requests.post(f"{orphan.url}/api/2.0/mlflow/experiments/search", json={}, timeout=60)
    body = assert_json_error(resp, 502, "TEMPORARILY_UNAVAILABLE")
    assert body["message"] == "The tracking server is unavailable"
    lookup = requests.get(f"{orphan.url}/get-artifact?run_id=r&path=a.txt", timeout=60)
    assert_json_error(lookup, 502, "TEMPORARILY_UNAVAILABLE")
    api = orphan.api
    assert requests.put(f"{api}/1/r/artifacts/a.txt", data=b"still", timeout=30).status_code == 200
    assert requests.get(f"{api}/1/r/artifacts/a.txt", timeout=30).content == b"still"
    assert requests.get(f"{orphan.url}/health", timeout=30).text == "OK"
    ready = requests.get(f"{orphan.url}/ready", timeout=60)
    assert ready.status_code == 503 and ready.json() == {"ready": False}
    info = requests.get(f"{orphan.url}/api/3.0/mlflow/server-info", timeout=30)
    assert info.status_code == 200 and "multipart_uploads_enabled" in info.json()


def test_the_artifact_namespace_never_goes_upstream(proxy):
    not_allowed = requests.post(f"{proxy.api}/1/a.txt", data=b"x", timeout=30)
    assert_json_error(not_allowed, 405, "BAD_REQUEST")
    missing = requests.get(f"{proxy.url}/api/2.0/mlflow-artifacts/other", timeout=30)
    body = assert_json_error(missing, 404, "ENDPOINT_NOT_FOUND")
    assert "artifacts only" not in body["message"]
    assert requests.post(f"{proxy.url}/health", timeout=30).status_code == 405
    version = requests.get(f"{proxy.url}/version", timeout=30).json()
    assert version["raw_path"] == "/version"  # the tracking server's version, as the UI expects


def test_server_info_is_the_upstreams_with_the_gateways_artifact_fields(proxy, local_gateway):
    own = requests.get(f"{local_gateway.url}/api/3.0/mlflow/server-info", timeout=30).json()
    for prefix in ("/api", "/ajax-api"):
        info = requests.get(f"{proxy.url}{prefix}/3.0/mlflow/server-info", timeout=30).json()
        assert info["store_type"] == "EchoStore" and info["echo_only_field"] == 7
        for field in ("multipart_uploads_enabled", "multipart_downloads_enabled"):
            assert info[field] == own[field] and isinstance(info[field], bool)


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "/api/2.0/mlflow/runs/search"),
        ("GET", "/get-artifact?run_id=r&path=a"),
        ("GET", "/"),
    ],
)
def test_artifacts_only_mode_refuses_tracking_routes(local_gateway, method, route):
    resp = requests.request(method, f"{local_gateway.url}{route}", timeout=30)
    body = assert_json_error(resp, 404, "ENDPOINT_NOT_FOUND")
    assert "serves MLflow artifacts only" in body["message"]


def test_artifacts_only_mode_answers_server_info_and_readiness_alone(local_gateway):
    info = requests.get(f"{local_gateway.url}/ajax-api/3.0/mlflow/server-info", timeout=30).json()
    assert info["store_type"] is None and info["workspaces_enabled"] is False
    ready = requests.get(f"{local_gateway.url}/ready", timeout=30)
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert requests.get(f"{local_gateway.url}/version", timeout=30).text[0].isdigit()


def test_a_refused_lookup_keeps_the_upstream_challenge(proxy):
    """The gateway answers artifacts/list itself after a run lookup; a 401 from that lookup must
    reach the client with the tracking server's WWW-Authenticate, or no client sends credentials."""
    resp = requests.get(
        f"{proxy.url}/api/2.0/mlflow/artifacts/list", params={"run_id": "abc"}, timeout=30
    )
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."}
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
