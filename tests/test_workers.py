"""`--workers N`: forked workers share one port; one dying takes the gateway down whole."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import time

import psutil
import pytest
import requests

from tests.helpers.metrics_text import samples, value
from tests.helpers.processes import gateway_argv, wait_until
from tests.helpers.stack import BUCKET, clean_env, s3_env, start_gateway


def workers_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children()


def test_workers_share_the_port_and_fail_together(seaweed, s3, tmp_path, exp):
    env = clean_env(**s3_env(seaweed.endpoint))
    args = ["--artifacts-destination", f"s3://{BUCKET}/workers", "--workers", "2"]
    process, url = start_gateway(tmp_path, args, env, name="workers")
    try:
        children = workers_of(process.pid)
        assert len(children) == 2
        api = f"{url}/api/2.0/mlflow-artifacts/artifacts"
        bodies = {f"{exp}/f{i}.bin": os.urandom(64 * 1024 + i) for i in range(64)}

        def round_trip(item: tuple[str, bytes]) -> bool:
            path, data = item
            with requests.Session() as session:  # a new connection each, so both workers serve
                session.put(f"{api}/{path}", data=data, timeout=60).raise_for_status()
                return session.get(f"{api}/{path}", timeout=60).content == data

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(round_trip, bodies.items()))
        # The access line and the counters are written just after the response is sent.
        pattern = r"\[(\d+)\] INFO gateway.access \[\w+\]: .* \"PUT "

        def served() -> list[str]:
            return re.findall(pattern, process.log_text())

        assert wait_until(lambda: len(served()) == len(bodies), timeout=10)
        assert {int(pid) for pid in served()} == {c.pid for c in children}
        # Either worker's scrape covers both (prometheus-client's multiprocess mode).
        route = "/api/2.0/mlflow-artifacts/artifacts/{path}"
        size = sum(map(len, bodies.values()))

        def counted() -> dict:
            with requests.Session() as session:
                found = samples(session.get(f"{url}/metrics", timeout=60).text)
            return {
                method: value(
                    found,
                    "gateway_http_requests_total",
                    route=route,
                    method=method,
                    status="200",
                )
                for method in ("PUT", "GET")
            } | {"bytes": value(found, "gateway_uploaded_bytes_total", destination="default")}

        expected = {"PUT": len(bodies), "GET": len(bodies), "bytes": size}
        assert wait_until(lambda: counted() == expected, timeout=10)
        for _ in range(4):
            assert counted() == expected
        for path, data in bodies.items():
            assert s3.get_object(Bucket=BUCKET, Key=f"workers/{path}")["Body"].read() == data

        os.kill(children[0].pid, signal.SIGKILL)
        assert process.proc is not None
        assert process.proc.wait(timeout=30) == 1
        deadline = time.monotonic() + 30
        while children[1].is_running() and children[1].status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the surviving worker was not stopped"
            time.sleep(0.1)
    finally:
        process.stop()


def test_workers_share_one_generated_signing_secret(tmp_path, exp):
    """Part URLs signed by one worker are accepted by the other (no secret configured)."""
    root = tmp_path / "mlartifacts"
    args = ["--artifacts-destination", str(root), "--workers", "2"]
    process, url = start_gateway(tmp_path, args, clean_env(), name="workers-mpu")
    try:
        mpu = f"{url}/api/2.0/mlflow-artifacts/mpu"
        created = requests.post(
            f"{mpu}/create/{exp}", json={"path": "parts.bin", "num_parts": 32}, timeout=60
        )
        assert created.status_code == 200, created.text
        chunks = [os.urandom(1024) for _ in range(32)]
        parts = []
        for credential, chunk in zip(created.json()["credentials"], chunks, strict=True):
            with requests.Session() as session:  # a new connection: either worker may take it
                resp = session.put(credential["url"], data=chunk, timeout=60)
            assert resp.status_code == 200, resp.text
            parts.append({"part_number": credential["part_number"], "etag": resp.headers["ETag"]})
        body = {"path": "parts.bin", "upload_id": created.json()["upload_id"], "parts": parts}
        assert requests.post(f"{mpu}/complete/{exp}", json=body, timeout=60).status_code == 200
        assert (root / exp / "parts.bin").read_bytes() == b"".join(chunks)
        pattern = r"\[(\d+)\] INFO gateway.access \[\w+\]: .* \"PUT [^\"]*/mpu/part/"

        def part_pids() -> list[str]:
            return re.findall(pattern, process.log_text())

        assert wait_until(lambda: len(part_pids()) == len(chunks), timeout=10)
        assert {int(pid) for pid in part_pids()} == {c.pid for c in workers_of(process.pid)}
    finally:
        process.stop()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_one_line_at_start_not_a_traceback(tmp_path, workers):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        argv = gateway_argv(port, "--artifacts-destination", str(tmp_path), "--workers", workers)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
