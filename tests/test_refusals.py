"""Refusals that come before any work: anonymous callers never reach the tracking server and never
have a body read, CONNECT and TRACE never pass, and the artifact path is the one the route matched.

Gateways with auth on a local destination, in front of the echo upstream (tests/helpers/guarded.py).
"""

from __future__ import annotations

import json
import re
import socket
import urllib.parse
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from gateway.http.routes.multipart_bodies import BODY_LIMIT, CompleteRequest
from gateway.stores.capabilities import MAX_PARTS
from tests.helpers import guarded
from tests.helpers.guarded import (
    OWNER,
    SEED,
    SEED_BYTES,
    STRANGER,
    Guarded,
    forget,
    received,
    snapshot,
)
from tests.helpers.upstreams import Server, start_echo, stopping

MIB = 1024 * 1024
CREATE = "/api/2.0/mlflow-artifacts/mpu/create/7/r/artifacts"


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator[Server]:
    with stopping(start_echo(tmp_path_factory.mktemp("refusals-echo"))) as server:
        yield server


@pytest.fixture(scope="module")
def strict(echo, tmp_path_factory) -> Iterator[Guarded]:
    """`enforce_on_passthrough` left at its default (true)."""
    with guarded.running(tmp_path_factory.mktemp("strict"), echo.url) as gateway:
        yield Guarded(gateway, echo.url)


@pytest.fixture(scope="module")
def lenient(echo, tmp_path_factory) -> Iterator[Guarded]:
    workdir = tmp_path_factory.mktemp("lenient")
    with guarded.running(workdir, echo.url, enforce_on_passthrough=False) as gateway:
        yield Guarded(gateway, echo.url)


ELSEWHERE = [  # runs, versions and models whose location is another bucket: answered upstream
    ("GET", "/get-artifact", {"run_id": "s3-7", "path": "model.pkl"}),
    ("GET", "/ajax-api/2.0/mlflow/get-artifact", {"run_id": "s3-7", "path": "model.pkl"}),
    ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": "s3-7"}),
    ("GET", "/ajax-api/2.0/mlflow/artifacts/list", {"run_id": "s3-7"}),
    ("POST", "/ajax-api/2.0/mlflow/upload-artifact", {"run_uuid": "s3-7", "path": "x.txt"}),
    ("GET", "/model-versions/get-artifact", {"name": "s3-7", "version": "1", "path": "a"}),
    ("GET", "/api/2.0/mlflow/logged-models/s3-7/artifacts/directories", {}),
]


@pytest.mark.parametrize(("method", "path", "params"), ELSEWHERE, ids=[p for _, p, _ in ELSEWHERE])
def test_anonymous_tracking_artifact_requests_never_reach_the_upstream(
    strict, method, path, params
):
    url, body = f"{strict.url}{path}", b"fifteen bytes.."
    forget(strict.echo_url)
    anonymous = requests.request(method, url, params=params, data=body, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
    assert received(strict.echo_url) == []
    known = requests.request(method, url, params=params, data=body, headers=STRANGER.headers())
    assert known.status_code == 200, known.text  # looked up, then passed on: the echo answers
    assert [r["path"] for r in received(strict.echo_url)][-1] == path


def test_server_info_asks_the_upstream_only_for_callers_the_passthrough_admits(strict):
    """Public like MLflow's own (clients may probe it before they log in): anonymous callers get
    the gateway's payload, which the tracking server is not asked for."""
    url = f"{strict.url}/api/3.0/mlflow/server-info"
    for headers in ({}, guarded.WRONG):
        forget(strict.echo_url)
        info = requests.get(url, headers=headers, timeout=30)
        assert info.status_code == 200 and info.json()["store_type"] is None
        assert isinstance(info.json()["multipart_uploads_enabled"], bool)
        assert received(strict.echo_url) == []
    forget(strict.echo_url)
    info = requests.get(url, headers=OWNER.headers(), timeout=30)
    assert info.json()["store_type"] == "EchoStore", "a known caller gets the upstream's payload"
    # Cached for every caller (workspace resolution reads it too), so asked at most once here.
    assert {r["path"] for r in received(strict.echo_url)} <= {"/api/3.0/mlflow/server-info"}


def test_with_enforcement_off_the_upstream_judges_anonymous_tracking_calls(lenient):
    forget(lenient.echo_url)
    run = {"run_id": "s3-7", "path": "model.pkl"}
    assert requests.get(f"{lenient.url}/get-artifact", params=run, timeout=30).status_code == 200
    search = requests.post(f"{lenient.url}/api/2.0/mlflow/experiments/search", json={})
    assert search.status_code == 200
    # lookup, its pass-through, the search; besides whether workspaces are on (cached)
    calls = [r for r in received(lenient.echo_url) if r["path"] != "/api/3.0/mlflow/server-info"]
    assert len(calls) == 3
    own = requests.get(f"{lenient.url}/get-artifact", params={"run_id": "gw-7", "path": "a.txt"})
    assert own.status_code == 401, "the gateway's own bytes need a gateway user"


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def exchange(url: str, request: bytes, wait: float = 20.0) -> bytes:
    """Sends `request` byte for byte; returns what came back until the first final answer was
    complete, the server closed, or `wait` passed (a server still reading a body says nothing)."""
    parsed = urllib.parse.urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=wait) as sock:
        sock.sendall(request)
        return answer(sock)


def answer(sock: socket.socket, until: Callable[[bytes], bool] | None = None) -> bytes:
    """What the server sends until `until` holds (default: a final answer is complete)."""
    done = until or (lambda got: _complete(got.removeprefix(CONTINUE)))
    got = b""
    while not done(got):
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        if not piece:
            break
        got += piece
    return got


def _complete(answer: bytes) -> bool:
    headers, end, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", headers)
    return bool(end) and (length is None or len(body) >= int(length[1]))


def head(g: Guarded, method: str, target: str, *lines: str) -> bytes:
    host = g.url.removeprefix("http://")
    return "\r\n".join([f"{method} {target} HTTP/1.1", f"Host: {host}", *lines, "", ""]).encode()


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100-continue"])
def test_anonymous_32_mib_body_is_refused_before_it_is_read(strict, expect):
    lines = [f"Content-Length: {32 * MIB}", "Content-Type: application/json"]
    lines += ["Expect: 100-continue"] if expect else []
    answer = exchange(strict.url, head(strict, "POST", CREATE, *lines) + b'{"path": "')
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"UNAUTHENTICATED"' in answer


def test_an_allowed_request_is_told_to_continue(strict):
    target = f"/api/2.0/mlflow-artifacts/artifacts/7/r-{uuid.uuid4().hex}/artifacts/e.txt"
    lines = ["Content-Length: 5", "Expect: 100-continue", *_authorization(OWNER)]
    parsed = urllib.parse.urlsplit(strict.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=20) as sock:
        sock.sendall(head(strict, "PUT", target, *lines))
        assert answer(sock, until=lambda got: len(got) >= len(CONTINUE)) == CONTINUE
        sock.sendall(b"hello")
        assert answer(sock).startswith(b"HTTP/1.1 200 ")
    assert (strict.root / target.split("/artifacts/", 1)[1]).read_bytes() == b"hello"


def test_a_body_larger_than_any_legal_one_is_refused_by_its_length(strict):
    lines = [f"Content-Length: {BODY_LIMIT + 1}", *_authorization(OWNER)]
    answer = exchange(strict.url, head(strict, "POST", CREATE, *lines) + b'{"path": "')
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def _authorization(user: guarded.User) -> list[str]:
    return [f"{name}: {value}" for name, value in user.headers().items()]


def test_a_body_without_length_is_read_only_up_to_the_limit(strict):
    before = snapshot(strict.root)

    def chunks() -> Iterator[bytes]:
        yield b'{"num_parts": 1, "path": "'
        for _ in range(BODY_LIMIT // MIB + 1):
            yield b"a" * MIB
        yield b'"}'

    url = f"{strict.url}{CREATE}"
    response = requests.post(url, data=chunks(), headers=OWNER.headers(), timeout=60)
    assert response.status_code == 413, response.text
    assert snapshot(strict.root) == before


def test_a_path_field_longer_than_a_local_path_is_refused(strict):
    before = snapshot(strict.root)
    body = {"path": "a" * 5000, "num_parts": 1}
    response = requests.post(f"{strict.url}{CREATE}", json=body, headers=OWNER.headers())
    assert response.status_code == 400, response.text
    assert "path" in response.json()["message"] and "4096" in response.json()["message"]
    assert snapshot(strict.root) == before


def test_artifact_paths_longer_than_any_store_takes_are_refused(strict):
    long_path = "7/r/artifacts/" + "/".join(["segment"] * 600)
    response = requests.get(f"{strict.gateway.api}/{long_path}", headers=OWNER.headers())
    assert response.status_code == 400, response.text
    assert "longer than 4096 characters" in response.json()["message"]


def test_the_largest_legal_complete_body_fits_the_limit():
    etag = '"' + "f" * 126 + '"'
    parts = [{"part_number": n, "etag": etag} for n in range(1, MAX_PARTS + 1)]
    body = json.dumps({"path": "/" + "d" * 4095, "upload_id": "u" * 1024, "parts": parts})
    assert len(body) <= BODY_LIMIT
    assert len(CompleteRequest.model_validate_json(body).parts) == MAX_PARTS


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "PROPFIND"])
def test_connect_trace_and_unknown_methods_are_refused_and_never_forwarded(strict, method):
    forget(strict.echo_url)
    chunked = ["Transfer-Encoding: chunked", *_authorization(OWNER)]
    request = head(strict, method, "/api/2.0/mlflow/experiments/search", *chunked)
    answer = exchange(strict.url, request + b"5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 "), answer[:200]
    assert b'"BAD_REQUEST"' in answer and b"Connection: close" in answer
    assert received(strict.echo_url) == []
    after = requests.post(
        f"{strict.url}/api/2.0/mlflow/experiments/search",
        data=b"next user's body",
        headers=OWNER.headers(),
        timeout=30,
    )
    assert after.status_code == 200 and after.json()["body_size"] == len(b"next user's body")


def test_the_artifact_path_is_the_one_the_route_matched(strict, local_gateway, exp):
    """`%61rtifacts` decodes to `artifacts`: the route sees experiment 9 (as would a proxy
    routing on the decoded URL), so the path must not be cut from a later raw occurrence."""
    inner = f"{exp}/r/artifacts/x.txt"
    outer = f"9{exp}/mlflow-artifacts/artifacts/{inner}"
    for path, data in ((inner, b"inner"), (outer, b"outer")):
        (local_gateway.root / path).parent.mkdir(parents=True, exist_ok=True)
        (local_gateway.root / path).write_bytes(data)
    tail = f"/api/2.0/mlflow-artifacts/%61rtifacts/{outer}"
    answer = exchange(local_gateway.url, head(local_gateway, "GET", tail, "Connection: close"))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"outer"), answer[-300:]

    permitted_on_7 = f"/api/2.0/mlflow-artifacts/%61rtifacts/9/mlflow-artifacts/artifacts/{SEED}"
    response = requests.get(f"{strict.url}{permitted_on_7}", headers=OWNER.headers(), timeout=30)
    assert response.status_code == 403 and "'9'" in response.json()["message"], response.text
    assert SEED_BYTES not in response.content
