"""SIGTERM drains: `/ready` 503 at once, the listener closed, transfers in flight given
`--shutdown-timeout`, the rest aborted with nothing left behind, exit code 0.

A client-side generator paces each upload, so the test decides whether it can finish in time:
full speed after the signal (it finishes), or a trickle (it cannot, and is aborted).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import struct
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.helpers.processes import ManagedProcess
from tests.helpers.stack import BUCKET, clean_env, s3_env, start_gateway
from tests.helpers.storage import pending_uploads

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass
class Pace:
    total: int
    chunk: int
    signal_after: int  # bytes sent before the test may send SIGTERM
    trickle: float  # seconds between chunks after that (0: full speed)


FINISHES = Pace(GIB, MIB, 256 * MIB, 0.0)
TOO_SLOW = Pace(GIB, MIB, 256 * MIB, 0.05)  # the last 768 MiB would take 38 s


class Upload(threading.Thread):
    """One PUT with a declared length, sent chunk by chunk at `pace`; chunk i starts with i."""

    def __init__(self, url: str, pace: Pace) -> None:
        super().__init__(daemon=True)
        self.url, self.pace = urllib.parse.urlsplit(url), pace
        self.under_way = threading.Event()
        self.digest = hashlib.sha256()
        self.status: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        base = os.urandom(self.pace.chunk)
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=120)
        try:
            target = self.url.path + (f"?{self.url.query}" if self.url.query else "")
            conn.putrequest("PUT", target)
            conn.putheader("Content-Length", str(self.pace.total))
            conn.endheaders()
            for i in range(self.pace.total // self.pace.chunk):
                chunk = struct.pack(">Q", i) + base[8:]
                conn.send(chunk)
                self.digest.update(chunk)
                if (i + 1) * self.pace.chunk >= self.pace.signal_after:
                    self.under_way.set()
                    time.sleep(self.pace.trickle)
            response = conn.getresponse()
            self.status = response.status
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self.under_way.set()
            conn.close()


def _ready_turns_503(probe: http.client.HTTPConnection, process: ManagedProcess) -> None:
    """On a connection opened before the signal: bounded polling until `/ready` says 503.

    A closed connection counts only once the gateway has logged the end of a drain: a worker
    with nothing in flight (`--workers 2`) drains at once, and on a loaded machine a 1 s drain
    can end before the first poll; either way it has left a load balancer's rotation.
    """
    for _ in range(100):
        probe.request("GET", "/ready")
        try:
            response = probe.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            if "drained (" in process.log_text():
                return
            raise
        response.read()
        if response.status == 503:
            return
        assert response.status == 200
        time.sleep(0.1)
    raise AssertionError("/ready never turned 503 while draining")


def _new_connections_refused(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    for _ in range(100):
        try:
            requests.get(f"{url}/health", timeout=5)
        except requests.ConnectionError:
            return
        time.sleep(0.1)
    raise AssertionError(f"{parsed.netloc} still accepts connections while draining")


def drain_during(process: ManagedProcess, url: str, upload: Upload) -> int:
    """Starts `upload`, sends SIGTERM once it is under way, checks the drain; the exit code."""
    parsed = urllib.parse.urlsplit(url)
    probe = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    probe.request("GET", "/ready")
    first = probe.getresponse()
    assert first.status == 200, first.read()
    first.read()
    upload.start()
    assert upload.under_way.wait(timeout=180)
    assert upload.is_alive(), (upload.status, upload.error)
    os.kill(process.pid, signal.SIGTERM)
    try:
        _ready_turns_503(probe, process)
    finally:
        probe.close()
    _new_connections_refused(url)
    upload.join(timeout=180)
    assert not upload.is_alive()
    assert process.proc is not None
    return process.proc.wait(timeout=60)


def _gateway(tmp_path, destination: str, timeout: float, workers: int, env: dict[str, str]):
    args = ["--artifacts-destination", destination, "--shutdown-timeout", str(timeout)]
    return start_gateway(tmp_path, [*args, "--workers", str(workers)], env, name="draining")


@contextlib.contextmanager
def drained_s3_upload(
    seaweed, tmp_path, timeout: float, workers: int, pace: Pace
) -> Iterator[tuple[ManagedProcess, Upload, str]]:
    """A gateway on a fresh S3 prefix, drained during one upload of `pace`; exit code 0."""
    prefix = f"drain-{uuid.uuid4().hex}"
    env = clean_env(**s3_env(seaweed.endpoint))
    process, url = _gateway(tmp_path, f"s3://{BUCKET}/{prefix}", timeout, workers, env)
    try:
        upload = Upload(f"{url}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/big", pace)
        assert drain_during(process, url, upload) == 0, process.log_text()[-3000:]
        yield process, upload, prefix
    finally:
        process.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_transfer_that_finishes_within_the_timeout_completes(seaweed, s3, tmp_path, workers):
    with drained_s3_upload(seaweed, tmp_path, 60, workers, FINISHES) as (process, upload, prefix):
        assert upload.error is None and upload.status == 200
        body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/1/r/artifacts/big")["Body"]
        stored = hashlib.sha256()
        for piece in iter(lambda: body.read(8 * MIB), b""):
            stored.update(piece)
        assert stored.hexdigest() == upload.digest.hexdigest()
        assert "aborting" not in process.log_text()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_transfer_still_running_at_the_timeout_is_aborted(seaweed, s3, tmp_path, workers):
    with drained_s3_upload(seaweed, tmp_path, 3, workers, TOO_SLOW) as (process, upload, prefix):
        assert upload.status is None and upload.error is not None  # a closed connection
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        assert listed == []
        assert [u for u in pending_uploads(s3) if u["Key"].startswith(prefix)] == []
        assert "1 request(s) still running after 3.0 s: aborting" in process.log_text()


SMALL = Pace(4 * MIB, 256 * 1024, MIB, 0.5)  # one S3 PutObject, or one part


def _part_url(url: str, directory: str) -> str:
    created = requests.post(
        f"{url}/api/2.0/mlflow-artifacts/mpu/create/{directory}",
        json={"path": "part.bin", "num_parts": 1},
        timeout=30,
    )
    created.raise_for_status()
    return created.json()["credentials"][0]["url"]


@pytest.mark.parametrize("kind", ["local", "s3-single-put", "s3-part-link"])
def test_every_kind_of_write_leaves_nothing_when_aborted(seaweed, s3, tmp_path, kind):
    prefix = f"drain-{uuid.uuid4().hex}"
    root = tmp_path / "mlartifacts"
    if kind == "local":
        root.mkdir()
        destination, env = str(root), clean_env()
    else:
        destination, env = f"s3://{BUCKET}/{prefix}", clean_env(**s3_env(seaweed.endpoint))
    process, url = _gateway(tmp_path, destination, 1, 1, env)
    try:
        target = f"{url}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/part.bin"
        if kind == "s3-part-link":
            target = _part_url(url, "1/r/artifacts")
        upload = Upload(target, SMALL)
        assert drain_during(process, url, upload) == 0, process.log_text()[-3000:]
        assert upload.status is None and upload.error is not None
        if kind == "local":
            assert [p for p in root.rglob("*") if p.is_file()] == []
        else:
            assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []) == []
        if kind == "s3-part-link":
            (pending,) = [u for u in pending_uploads(s3) if u["Key"].startswith(prefix)]
            parts = s3.list_parts(Bucket=BUCKET, Key=pending["Key"], UploadId=pending["UploadId"])
            assert parts.get("Parts", []) == []  # the upload itself is the client's to abort
            s3.abort_multipart_upload(
                Bucket=BUCKET, Key=pending["Key"], UploadId=pending["UploadId"]
            )
        assert [u for u in pending_uploads(s3) if u["Key"].startswith(prefix)] == []
    finally:
        process.stop()
