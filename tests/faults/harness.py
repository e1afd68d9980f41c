"""What every fault test needs: clients that report what they saw, the invariants, resource
counts of the gateway process, a cleanup pass on demand, and the record behind TABLE.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import requests
import urllib3

from tests.helpers.processes import wait_until
from tests.helpers.stack import BUCKET, Gateway, clean_env, s3_env, start_gateway

MIB = 1024 * 1024
KIB = 1024
MPU = "/api/2.0/mlflow-artifacts/mpu"
TIMEOUT = 60  # every client request; black holes end sooner through the gateway's timeouts
client_timeout = TIMEOUT  # tests of black holes lower it (monkeypatch) to bound their wait

# What a fault may leave behind in the gateway process once it has settled, over the baseline
# taken after a warm-up. Pools keep idle keep-alive connections (aiobotocore: up to
# `s3.max_pool_connections`, here the three parts in flight plus the stream client's); the
# default executor may start threads up to min(32, cores + 4) = 6 on first use.
FD_SLACK = 6
CONN_SLACK = 4
THREAD_SLACK = 6
SETTLE_SECONDS = 20.0


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible, distinct per seed: a stale or shifted byte changes the digest."""
    block = hashlib.sha256(f"seed-{seed}".encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(out[:size])


# --- what the client saw --------------------------------------------------------------------


@dataclass
class Seen:
    """One request's outcome as the client saw it: a status and body, or a cut connection."""

    status: int | None = None
    body: bytes = b""
    json: dict | None = None
    cut: str | None = None  # the exception that ended the exchange
    declared: int | None = None  # Content-Length of a download
    headers: dict = field(default_factory=dict)
    timed_out: str | None = None  # the client's own timeout: the gateway never answered

    @property
    def ok(self) -> bool:
        return (
            self.cut is None
            and self.timed_out is None
            and self.status is not None
            and 200 <= self.status < 300
        )

    def describe(self) -> str:
        if self.timed_out is not None:
            return f"no answer ({self.timed_out})"
        if self.cut is not None:
            got = f" after {len(self.body)} of {self.declared} bytes" if self.declared else ""
            return f"cut connection ({self.cut}){got}"
        if self.json and "error_code" in self.json:
            return f"{self.status} {self.json['error_code']}"
        return f"{self.status}"


def request(method: str, url: str, **kw) -> Seen:
    """A fresh connection per request (no pooled client sockets muddle the gateway's counts)."""
    kw.setdefault("timeout", client_timeout)
    headers = {"Connection": "close", **kw.pop("headers", {})}
    try:
        with requests.request(method, url, headers=headers, stream=True, **kw) as resp:
            declared = resp.headers.get("Content-Length")
            seen = Seen(
                resp.status_code,
                declared=int(declared) if declared is not None else None,
                headers=dict(resp.headers),
            )
            chunks = []
            try:
                for chunk in resp.raw.stream(256 * KIB, decode_content=False):
                    chunks.append(chunk)
            except urllib3.exceptions.ReadTimeoutError as exc:
                seen.timed_out = f"{type(exc).__name__} mid-body after {kw['timeout']} s"
            except Exception as exc:  # urllib3 ProtocolError, IncompleteRead, reset
                seen.cut = type(exc).__name__
            seen.body = b"".join(chunks)
            if seen.cut is None and declared is not None and len(seen.body) != int(declared):
                seen.cut = f"short body {len(seen.body)} of {declared}"
    except requests.Timeout as exc:
        return Seen(timed_out=f"{type(exc).__name__} after {kw['timeout']} s")
    except requests.RequestException as exc:
        return Seen(cut=type(exc).__name__)
    if resp.headers.get("Content-Type", "").startswith("application/json") and seen.body:
        try:
            seen.json = json.loads(seen.body)
        except ValueError:
            seen.json = None
    return seen


def assert_clear_error(seen: Seen, what: str) -> None:
    """A failure the client can act on: 5xx JSON in MLflow's shape, or a cut connection."""
    assert seen.timed_out is None, f"{what}: the gateway never answered: {seen.timed_out}"
    if seen.cut is not None:
        return
    assert seen.status is not None and seen.status >= 500, f"{what}: {seen.describe()}"
    assert seen.json is not None, f"{what}: {seen.status} without a JSON body: {seen.body[:300]!r}"
    assert set(seen.json) >= {"error_code", "message"}, f"{what}: {seen.json}"
    assert seen.json["error_code"] != "INTERNAL_ERROR", f"{what}: an unclear 500: {seen.json}"


# --- client operations ----------------------------------------------------------------------


def put(gw: Gateway, path: str, data: bytes) -> Seen:
    return request("PUT", f"{gw.api}/{path}", data=data)


def get(gw: Gateway, path: str, byte_range: tuple[int, int] | None = None) -> Seen:
    headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1] - 1}"} if byte_range else {}
    return request("GET", f"{gw.api}/{path}", headers=headers)


def listing(gw: Gateway, directory: str) -> Seen:
    return request("GET", gw.api, params={"path": directory})


def mpu_post(gw: Gateway, action: str, directory: str, **body) -> Seen:
    return request("POST", f"{gw.url}{MPU}/{action}/{directory}", json=body)


@dataclass
class MpuResult:
    """A client multipart upload: create, each part (retried once, as a client would), complete."""

    steps: list[tuple[str, Seen]]
    upload_id: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and self.steps[-1][0] == "complete" and self.steps[-1][1].ok

    def first_failure(self) -> tuple[str, Seen] | None:
        return next(((name, s) for name, s in self.steps if not s.ok), None)

    def describe(self) -> str:
        failed = self.first_failure()
        if failed is None:
            return "200 (every step)"
        name, seen = failed
        end = "then 200 after the client retried the part" if self.ok else "client gave up"
        return f"{name}: {seen.describe()}; {end}"


def client_multipart(gw: Gateway, path: str, parts: list[bytes]) -> MpuResult:
    directory, name = path.rsplit("/", 1)
    result = MpuResult([])
    created = mpu_post(gw, "create", directory, path=f"/home/me/{name}", num_parts=len(parts))
    result.steps.append(("create", created))
    if not created.ok or created.json is None:
        return result
    result.upload_id = created.json["upload_id"]
    etags = []
    for credential, data in zip(created.json["credentials"], parts, strict=True):
        for attempt in range(2):
            sent = request("PUT", credential["url"], data=data, headers=credential["headers"])
            result.steps.append((f"part {credential['part_number']} try {attempt + 1}", sent))
            if sent.ok:
                etags.append(
                    {"part_number": credential["part_number"], "etag": sent.headers["ETag"]}
                )
                break
        else:
            return result
    done = mpu_post(
        gw, "complete", directory, path=f"/home/me/{name}", upload_id=result.upload_id, parts=etags
    )
    result.steps.append(("complete", done))
    return result


# --- what the destination holds -------------------------------------------------------------


def s3_object(s3, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def pending(s3, key_prefix: str) -> list[str]:
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key_prefix).get("Uploads", [])
    return [u["Key"] for u in uploads]


def assert_write_invariants(seen_ok: bool, stored: bytes | None, sent: bytes, what: str) -> None:
    """Never a 200 for a failed write; whatever exists has exactly the bytes that were sent."""
    if seen_ok:
        assert stored is not None, f"{what}: 200 but nothing stored"
    if stored is not None:
        assert sha(stored) == sha(sent), (
            f"{what}: stored object differs from what was sent ({len(stored)} of {len(sent)} bytes)"
        )


def assert_download_invariants(seen: Seen, expected: bytes, what: str) -> None:
    """A download is whole and right, or visibly cut after a correct prefix, or a clear error."""
    if seen.ok:
        assert sha(seen.body) == sha(expected), f"{what}: {seen.status} with wrong bytes"
        return
    if seen.cut is not None and seen.status in (200, 206):
        assert seen.body == expected[: len(seen.body)], f"{what}: the bytes before the cut differ"
        assert len(seen.body) < len(expected), f"{what}: cut reported after every byte"
        return
    assert_clear_error(seen, what)


def quiesce(proxy, quiet: float = 1.0, timeout: float = 30.0) -> bool:
    """Waits until no byte has crossed the proxy for `quiet` seconds: work the gateway still
    does for an earlier case (a retry after a black hole cleared) must not land in the next."""
    last, since = None, time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        stats = proxy.stats()
        key = (stats.bytes_up, stats.bytes_down, stats.dropped, stats.accepted)
        if key != last:
            last, since = key, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
        time.sleep(0.2)
    return False


# --- the gateway process --------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    fds: int
    threads: int
    backend: int  # TCP connections to the watched backend ports, any state
    close_wait: int  # of those, closed by the peer but not by the gateway

    @classmethod
    def of(cls, pid: int, backend_ports: set[int]) -> Resources:
        proc = psutil.Process(pid)
        conns = [
            c for c in proc.net_connections(kind="tcp") if c.raddr and c.raddr.port in backend_ports
        ]
        return cls(
            fds=proc.num_fds(),
            threads=proc.num_threads(),
            backend=len(conns),
            close_wait=sum(1 for c in conns if c.status == psutil.CONN_CLOSE_WAIT),
        )

    def within(self, baseline: Resources) -> bool:
        return (
            self.fds <= baseline.fds + FD_SLACK
            and self.threads <= baseline.threads + THREAD_SLACK
            and self.backend <= baseline.backend + CONN_SLACK
            and self.close_wait == 0
        )


def settle(pid: int, ports: set[int], baseline: Resources, what: str) -> Resources:
    """Waits (bounded) until the gateway holds no more than the baseline plus the slack."""
    last = Resources.of(pid, ports)
    deadline = time.monotonic() + SETTLE_SECONDS
    while not last.within(baseline) and time.monotonic() < deadline:
        time.sleep(0.5)
        last = Resources.of(pid, ports)
    assert last.within(baseline), (
        f"{what}: gateway still holds {last} after {SETTLE_SECONDS:.0f} s; baseline {baseline}, "
        f"slack fds +{FD_SLACK}, threads +{THREAD_SLACK}, connections +{CONN_SLACK}, no CLOSE_WAIT"
    )
    return last


def kill_group(pid: int) -> None:
    """SIGKILL a process group started by ManagedProcess, and reap its leader."""
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except ProcessLookupError:
        return


def sigkill(process) -> None:
    kill_group(process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.proc.wait(timeout=15)


# --- the cleanup pass on demand -------------------------------------------------------------


def cleanup_pass(workdir: Path, endpoint: str, prefix: str) -> str:
    """Runs the gateway's own cleanup pass on `s3://BUCKET/prefix`: a gateway process whose
    start-up pass aborts every upload older than 2 s (after waiting those 2 s), then stops.
    Returns its log."""
    time.sleep(2.5)
    args = [
        "--artifacts-destination",
        f"s3://{BUCKET}/{prefix}",
        "--multipart.url-ttl",
        "1",
        "--multipart.cleanup-age",
        "2",
        "--multipart.cleanup-interval",
        "3600",
    ]
    process, _ = start_gateway(workdir, args, clean_env(**s3_env(endpoint)), name="sweeper")
    try:
        assert wait_until(lambda: "cleanup pass done" in process.log_text(), 60)
        return process.log_text()
    finally:
        process.stop()


# --- the record behind TABLE.md -------------------------------------------------------------


@dataclass
class Row:
    fault: str
    where: str
    operation: str
    client_saw: str
    left: str
    test: str = ""


def record(row: Row) -> None:
    """Appends the row to $FAULTS_RECORD (JSON lines) when set; `python -m tests.faults.table`
    renders the file as the README's table."""
    target = os.environ.get("FAULTS_RECORD")
    if not target:
        return
    row.test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    with open(target, "a", encoding="utf-8") as file:
        file.write(json.dumps(asdict(row)) + "\n")
