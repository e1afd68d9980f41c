"""Failed, abandoned and refused transfers: nothing partial is visible, nothing secret leaks."""

from __future__ import annotations

import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ADMIN, BUCKET, Gateway, clean_env, pending_uploads, s3_env, start_gateway
from tests.processes import free_port, wait_until
from tests.seaweed import Identity

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


def leftovers(gw: Gateway, s3, path: str) -> list[str]:
    if gw.destination == "local":
        assert gw.root is not None
        experiment_dir = gw.root / path.split("/")[0]
        try:  # files, temp files and the directories the upload created
            return [str(p) for p in experiment_dir.rglob("*")] + (
                [str(experiment_dir)] if experiment_dir.exists() else []
            )
        except FileNotFoundError:
            return ["(being removed)"]
    found = [u["Key"] for u in pending_uploads(s3) if u["Key"].startswith(gw.key(path))]
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=gw.key(path)).get("Contents", [])
    return found + [o["Key"] for o in objects]


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


def every_kind_of_call(api: str) -> list[tuple[tuple, requests.Response]]:
    """Read, stat, small and multipart write, delete and list, each once, with its answer.

    Sent at once: against a refusing destination each waits out the retries (seconds)."""
    calls = [
        ("GET", f"{api}/1/a.txt", None),
        ("HEAD", f"{api}/1/a.txt", None),
        ("PUT", f"{api}/1/a.txt", b"data"),
        ("PUT", f"{api}/1/big.bin", b"b" * (9 * MIB)),
        ("DELETE", f"{api}/1/a.txt", None),
        ("GET", f"{api}?path=1", None),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        sent = pool.map(lambda c: requests.request(c[0], c[1], data=c[2], timeout=120), calls)
        return list(zip(calls, sent, strict=True))


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
