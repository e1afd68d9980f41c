"""`/server-info` while the tracking server is slow: MLflow 3.18 clients probe it with a 3 s
timeout and no retry, so the gateway waits about a second, then answers from its last upstream
answer or, with none, its own payload. Either way with the fields describing the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.helpers.processes import wait_until
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.upstreams import Server, start_echo, stopping


@pytest.fixture
def echo(tmp_path) -> Iterator[Server]:
    with stopping(start_echo(tmp_path)) as server:
        yield server


@pytest.fixture
def gateway(echo, tmp_path) -> Iterator[Gateway]:
    root = tmp_path / "mlartifacts"
    args = ["--artifacts-destination", str(root), "--tracking-uri", echo.url]
    process, url = start_gateway(tmp_path, args, clean_env())
    with stopping(Gateway(process, url, "local", root=root)) as gw:
        yield gw


def info(gw: Gateway) -> dict:
    resp = requests.get(f"{gw.url}/api/3.0/mlflow/server-info", timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["artifact_serving_enabled"] is True and body["artifacts_presigned_only"] is False
    assert body["multipart_uploads_enabled"] is True
    return body


def test_a_stalled_tracking_server_gets_the_gateways_payload_then_its_last_answer(echo, gateway):
    requests.post(f"{echo.url}/_stall-server-info", timeout=30).raise_for_status()
    assert info(gateway)["store_type"] is None  # nothing cached yet: the gateway's own
    requests.delete(f"{echo.url}/_stall-server-info", timeout=30).raise_for_status()
    # A failure is not cached: once the stalled lookup gives up (5 s), the next caller's
    # lookup reaches the tracking server again.
    assert wait_until(lambda: info(gateway)["store_type"] == "EchoStore", timeout=15)
    answered = info(gateway)
    assert answered["store_type"] == "EchoStore" and answered["echo_only_field"] == 7
    requests.post(f"{echo.url}/_stall-server-info", timeout=30).raise_for_status()
    assert info(gateway)["store_type"] == "EchoStore"  # its answer, fresh or the last one
