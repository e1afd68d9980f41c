"""Real failures of real parts: SeaweedFS killed (-9) mid-upload and restarted on the same ports
and data directory; the gateway SIGKILLed mid-upload and restarted on the same port."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.faults.harness import (
    MIB,
    Row,
    Seen,
    assert_clear_error,
    assert_write_invariants,
    cleanup_pass,
    get,
    payload,
    pending,
    put,
    record,
    s3_object,
    settle,
    sha,
    sigkill,
    wait_until,
)
from tests.faults.stack import (
    PREFIX,
    Stack,
    cut_seen,
    partial_upload,
    restart_same_port,
    start_faulty_gateway,
)

pytestmark = pytest.mark.slow

BIG = 32 * MIB


def _in_background(fn, *args) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    return thread, out


def _serves(stack_gw, what: str, attempts: int = 3) -> int:
    """The gateway serves a PUT and GET again; returns the attempts it took (bounded)."""
    data = payload(7 * MIB, seed=5)
    for attempt in range(1, attempts + 1):
        path = f"{what}-{uuid.uuid4().hex[:6]}/again.bin"
        if put(stack_gw, path, data).ok and sha(get(stack_gw, path).body) == sha(data):
            return attempt
        time.sleep(1)
    raise AssertionError(f"{what}: the gateway does not serve again after {attempts} attempts")


def test_kill9_seaweedfs_mid_upload_then_restart(stack: Stack):
    path = f"k{uuid.uuid4().hex[:8]}/big.bin"
    data = payload(BIG, seed=11)
    start_up = stack.proxy.stats().bytes_up
    stack.proxy.fault(bandwidth=2 * MIB, direction="up")  # keeps the upload in flight
    thread, out = _in_background(put, stack.gateway, path, data)
    assert wait_until(lambda: stack.proxy.stats().bytes_up - start_up > 8 * MIB, 30)
    sigkill(stack.seaweed)
    stack.proxy.clear()
    thread.join(90)
    assert not thread.is_alive(), "the client never heard back"
    seen: Seen = out[0]
    assert not seen.ok, f"200 for an upload whose S3 died: {seen.describe()}"
    assert_clear_error(seen, "PUT while SeaweedFS is killed")

    down = put(stack.gateway, f"{path}.down", b"x")  # while S3 is down
    assert_clear_error(down, "PUT while SeaweedFS is down")
    assert down.status == 503 or down.cut, down.describe()

    restart_same_port(stack.seaweed)
    attempts = _serves(stack.gateway, "after-seaweed-restart")
    key = f"{PREFIX}/{path}"
    stored = s3_object(stack.s3, key)
    assert_write_invariants(False, stored, data, "after restart")
    left = pending(stack.s3, key)
    cleanup_pass(stack.workdir, stack.seaweed.endpoint, PREFIX)
    assert pending(stack.s3, key) == []
    assert stack.baseline is not None
    settle(stack.pid, stack.backend_ports, stack.baseline, "seaweed restart")
    record(
        Row(
            "kill -9 SeaweedFS, restart on the same ports and data",
            "gateway-driven multipart PUT, 8 MiB of 32 MiB sent",
            "put-multipart",
            f"{seen.describe()}; while down: {down.describe()}; served again on attempt "
            f"{attempts} after the restart, no gateway restart",
            f"object {'whole' if stored else 'absent'}, {len(left)} multipart upload(s) "
            "until the cleanup pass, which removed them",
        )
    )


def test_sigkill_gateway_mid_upload_then_restart(stack: Stack, tmp_path):
    gw = start_faulty_gateway(tmp_path, stack.proxy, name="victim")
    try:
        path = f"g{uuid.uuid4().hex[:8]}/big.bin"
        start_up = stack.proxy.stats().bytes_up
        sock = partial_upload(gw.url, f"/api/2.0/mlflow-artifacts/artifacts/{path}", BIG, 16 * MIB)
        try:
            assert wait_until(lambda: stack.proxy.stats().bytes_up - start_up > 6 * MIB, 30)
            sigkill(gw.process)
            saw = cut_seen(sock)
        finally:
            sock.close()
        assert saw.startswith("cut connection"), saw
        key = f"{PREFIX}/{path}"
        assert s3_object(stack.s3, key) is None, "a partial object is visible"
        left = pending(stack.s3, key)
        restart_same_port(gw.process)
        attempts = _serves(gw, "after-gateway-restart")
        assert get(gw, path).status == 404
        cleanup_pass(tmp_path, stack.seaweed.endpoint, PREFIX)
        assert pending(stack.s3, key) == []
        record(
            Row(
                "SIGKILL the gateway, restart it on the same port",
                "gateway-driven multipart PUT, 16 MiB of 32 MiB sent",
                "put-multipart",
                f"{saw}; the restarted gateway served on attempt {attempts}",
                f"object absent (404), {len(left)} multipart upload(s) until the cleanup pass, "
                "which removed them",
            )
        )
    finally:
        gw.process.stop()
