"""Time limits on client connections, on real gateways: a head sent a byte at a time and a body
that stalls are cut off, and the stalled upload leaves nothing (no file, no temp file, no part,
no multipart upload in SeaweedFS).

The limits are set through their environment form, two seconds each; the test's own patience
(BOUND) is far longer, and no assertion is about how soon the gateway acted.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import requests

from tests.helpers.multipart import create, mpu, staged, stored_parts
from tests.helpers.processes import wait_until
from tests.helpers.stack import BUCKET, Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import leftovers, pending_uploads
from tests.helpers.upstreams import Server, start_echo, stopping

LIMITS = {"GATEWAY_HEADER_TIMEOUT": "2", "GATEWAY_BODY_IDLE_TIMEOUT": "2"}
BOUND = 30.0
MIB = 1024 * 1024
MPU = "/api/2.0/mlflow-artifacts/mpu"


@pytest.fixture(scope="module", params=["local", "s3"])
def limited(request, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp(f"limited-{request.param}")
    root = workdir / "mlartifacts"
    env, destination, kind = clean_env(**LIMITS), str(root), {"root": root}
    if request.param == "s3":
        env |= s3_env(request.getfixturevalue("seaweed").endpoint)
        destination, kind = f"s3://{BUCKET}/limited", {"prefix": "limited"}
    process, url = start_gateway(workdir, ["--artifacts-destination", destination], env)
    with stopping(Gateway(process, url, request.param, **kind)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator[Server]:
    with stopping(start_echo(tmp_path_factory.mktemp("limits-echo"))) as server:
        yield server


@pytest.fixture(scope="module")
def limited_proxy(echo, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("limited-proxy")
    args = ["--artifacts-destination", str(workdir / "mlartifacts"), "--tracking-uri", echo.url]
    process, url = start_gateway(workdir, args, clean_env(**LIMITS))
    with stopping(Gateway(process, url, "local", root=workdir / "mlartifacts")) as gateway:
        yield gateway


def until_closed(url: str, head: bytes, body: bytes = b"", drip: bytes = b"") -> tuple[bool, bytes]:
    """Sends `head` and `body`, then `drip` a byte every half second; returns whether the
    gateway closed the connection within BOUND, and what it answered."""
    parsed = urllib.parse.urlsplit(url)
    received, deadline = b"", time.monotonic() + BOUND
    with socket.create_connection((parsed.hostname, parsed.port), timeout=BOUND) as sock:
        sock.sendall(head + body)
        sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                if drip:
                    sock.send(drip[:1])
                    drip = drip[1:]
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, received
            if not data:
                return True, received
            received += data
    return False, received


def request_head(gw: Gateway, method: str, target: str, length: int) -> bytes:
    host = urllib.parse.urlsplit(gw.url).netloc
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n\r\n"
    return head.encode()


def assert_stalled_answer(answer: bytes) -> None:
    """The connection was closed after a 408 in MLflow's shape (or before any answer)."""
    if answer:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"error_code": "BAD_REQUEST"' in answer and b"Traceback" not in answer


def test_a_head_sent_a_byte_at_a_time_is_cut_off(limited):
    head = f"GET /health HTTP/1.1\r\nHost: {urllib.parse.urlsplit(limited.url).netloc}\r\n"
    closed, answer = until_closed(limited.url, head.encode(), drip=b"X-Slow: " + b"a" * 200)
    assert closed and answer == b""
    assert requests.get(f"{limited.url}/health", timeout=30).text == "OK"


def test_a_stalled_upload_is_cut_off_and_leaves_nothing(limited, s3, exp):
    """9 MiB of a declared 20: on S3 the multipart upload has begun when the body stops."""
    path = f"{exp}/run/artifacts/stalled.bin"
    head = request_head(limited, "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path}", 20 * MIB)
    closed, answer = until_closed(limited.url, head, body=b"s" * (9 * MIB))
    assert closed
    assert_stalled_answer(answer)
    assert wait_until(lambda: not leftovers(limited, s3, path)), leftovers(limited, s3, path)
    assert requests.get(f"{limited.api}/{path}", timeout=30).status_code == 404


def test_a_stalled_multipart_create_is_cut_off_and_starts_nothing(limited, s3, exp):
    """The issue's case: an anonymous mpu/create whose JSON body never arrives."""
    before = staged(limited)
    head = request_head(limited, "POST", f"{MPU}/create/{exp}", 64)
    closed, answer = until_closed(limited.url, head, body=b"{")
    assert closed
    assert_stalled_answer(answer)
    assert staged(limited) == before
    assert not [u for u in pending_uploads(s3) if u["Key"].startswith(limited.key(exp))]


def test_a_stalled_part_is_cut_off_and_stores_no_part(limited, s3, exp):
    created = create(limited, exp, "part.bin", 1)
    url = urllib.parse.urlsplit(created["credentials"][0]["url"])
    head = request_head(limited, "PUT", f"{url.path}?{url.query}", 6 * MIB)
    closed, answer = until_closed(limited.url, head, body=b"p" * MIB)
    assert closed
    assert_stalled_answer(answer)
    path, upload_id = f"{exp}/part.bin", created["upload_id"]
    assert wait_until(lambda: stored_parts(limited, s3, path, upload_id) == {})
    mpu(limited, "abort", exp, path="part.bin", upload_id=upload_id).raise_for_status()


def test_a_stalled_passthrough_body_is_cut_off(limited_proxy):
    head = request_head(limited_proxy, "POST", "/upload-drip", 1024)
    closed, answer = until_closed(limited_proxy.url, head, body=b"x" * 100)
    assert closed
    assert_stalled_answer(answer)
    assert requests.get(f"{limited_proxy.url}/health", timeout=30).text == "OK"


def test_a_slow_body_that_keeps_coming_is_not_cut_off(limited, s3, exp):
    """The idle limit is per wait for bytes, not for the whole body."""
    pieces = [b"a" * 1000, b"b" * 1000, b"c" * 1000]

    def body() -> Iterator[bytes]:
        for piece in pieces:
            time.sleep(0.5)
            yield piece

    target = f"{limited.api}/{exp}/slow.txt"
    assert requests.put(target, data=body(), timeout=60).status_code == 200
    assert requests.get(target, timeout=30).content == b"".join(pieces)
    requests.delete(f"{limited.api}/{exp}", timeout=30).raise_for_status()
