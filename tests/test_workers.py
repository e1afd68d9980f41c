"""`--workers N`: forked workers share one port; one dying takes the gateway down whole."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import time

import psutil
import requests

from tests.conftest import BUCKET, clean_env, s3_env, start_gateway


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
        served = re.findall(r"\[(\d+)\] INFO gateway.access: .* \"PUT ", process.log_text())
        assert {int(pid) for pid in served} == {c.pid for c in children}
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
