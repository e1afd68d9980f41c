"""Failed, abandoned and refused transfers: nothing partial is visible, nothing secret leaks."""

from __future__ import annotations

import socket
import time
import urllib.parse

import pytest

from tests.helpers.processes import free_port, wait_until
from tests.helpers.seaweed import Identity
from tests.helpers.stack import ADMIN, BUCKET, Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import every_kind_of_call, leftovers

MIB = 1024 * 1024


def send_partial_body(gw: Gateway, path: str, declared: int, sent: int, chunked: bool) -> None:
    """Starts an upload, sends part of the body, then drops the connection."""
    parsed = urllib.parse.urlsplit(gw.url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    try:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}"
        head = f"PUT {urllib.parse.urlsplit(gw.api).path}/{path} HTTP/1.1\r\n"
        sock.sendall(f"{head}Host: {parsed.netloc}\r\n{framing}\r\n\r\n".encode())
        block = b"p" * MIB
        for _ in range(sent // MIB):
            sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)
        time.sleep(0.5)  # let the gateway start its parts before the client vanishes
    finally:
        sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_disconnect_mid_upload_leaves_nothing(gateway, http, s3, exp, chunked):
    path = f"{exp}/run/artifacts/abandoned.bin"
    send_partial_body(gateway, path, declared=64 * MIB, sent=24 * MIB, chunked=chunked)
    assert wait_until(lambda: not leftovers(gateway, s3, path)), leftovers(gateway, s3, path)
    assert http.get(f"{gateway.api}/{path}", timeout=30).status_code == 404
    assert http.get(gateway.api, params={"path": f"{exp}/run/artifacts"}, timeout=30).json() == {}
    assert http.get(f"{gateway.url}/health", timeout=30).text == "OK"
    assert http.put(f"{gateway.api}/{path}", data=b"after", timeout=30).status_code == 200
    assert http.get(f"{gateway.api}/{path}", timeout=30).content == b"after"


@pytest.fixture(scope="module")
def refusing_gateways(seaweed, tmp_path_factory):
    """Gateways whose destination cannot serve: closed port, wrong secret, missing bucket."""
    workdir = tmp_path_factory.mktemp("refusing")
    wrong = Identity("wrong", ADMIN.access_key, "wrong-secret-value-0a9b8c7d")
    variants = {
        "unreachable": (s3_env(f"http://127.0.0.1:{free_port()}"), f"s3://{BUCKET}/x"),
        "wrong-secret": (s3_env(seaweed.endpoint, wrong), f"s3://{BUCKET}/x"),
        "no-bucket": (s3_env(seaweed.endpoint), "s3://no-such-bucket-here/x"),
    }
    started = {}
    try:
        for name, (env, uri) in variants.items():
            args = ["--artifacts-destination", uri, "--s3.connect-timeout", "2"]
            started[name] = start_gateway(workdir, args, clean_env(**env), name=name)
        yield started, wrong.secret_key
    finally:
        for process, _ in started.values():
            process.stop()


@pytest.mark.parametrize("variant", ["unreachable", "wrong-secret", "no-bucket"])
def test_refusing_destination_answers_503_without_secrets(refusing_gateways, variant):
    gateways, wrong_secret = refusing_gateways
    process, url = gateways[variant]
    for (method, target, _), resp in every_kind_of_call(
        f"{url}/api/2.0/mlflow-artifacts/artifacts"
    ):
        assert resp.status_code == 503, (method, target, resp.text)
        if method != "HEAD":
            assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert "Destination s3://" in resp.json()["message"]
        for secret in (ADMIN.secret_key, wrong_secret):
            assert secret not in resp.text and secret not in str(resp.headers)
    log = process.log_text()
    assert ADMIN.secret_key not in log and wrong_secret not in log
    assert "Traceback" not in log
