"""Each network fault between the gateway and S3, at several points of each kind of transfer.

After every case: the client saw success with the right bytes, or a clear error (5xx JSON in
MLflow's shape, or a cut connection); no partial or corrupt object exists in SeaweedFS; the
gateway aborted its own multipart uploads (client-driven ones are left to the cleanup pass,
run at the end of the module); the same transfer succeeds once the fault is cleared, with no
restart; and the gateway's fds, threads and S3 connections are back within the slack.

Transient faults (`once`) must cost the client nothing where a retry is safe: botocore retries
whole requests whose body the gateway still holds (PutObject, the gateway's own UploadPart,
every read before its first byte reaches the client). Nothing is retried after bytes have gone
to the client: a download cut mid-body reaches the client as a cut after a correct prefix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from tests.faults import harness
from tests.faults.harness import (
    KIB,
    MIB,
    Row,
    Seen,
    assert_clear_error,
    assert_download_invariants,
    assert_write_invariants,
    cleanup_pass,
    client_multipart,
    get,
    listing,
    payload,
    pending,
    put,
    quiesce,
    record,
    s3_object,
    settle,
    sha,
    wait_until,
)
from tests.faults.stack import BLACKHOLE_CLIENT_TIMEOUT, PART_SIZE, PREFIX, Stack

pytestmark = pytest.mark.slow

SMALL = 256 * KIB
LARGE = 12 * MIB  # three 5 MiB parts inside the gateway: a multipart upload of its own
MPU_PARTS = (5 * MIB, 1 * MIB)
DOWNLOAD = 8 * MIB
RANGE = (3 * MIB, 4 * MIB)
LISTED = 40

LEFT_FOR_CLEANUP: list[str] = []  # keys whose uploads only the cleanup pass can remove


@dataclass(frozen=True)
class Case:
    op: str
    fault: str  # label for the table
    settings: tuple = field(default=())  # FaultProxy.fault(**dict(settings))
    where: str = "whole transfer"

    @property
    def kwargs(self) -> dict:
        return dict(self.settings)

    @property
    def once(self) -> bool:
        return self.kwargs.get("once", True) and "cut_after" in self.kwargs

    @property
    def persistent(self) -> bool:
        kw = self.kwargs
        return kw.get("blackhole", False) or "blackhole_after" in kw or kw.get("once") is False

    @property
    def id(self) -> str:
        return f"{self.op}-{self.fault}-{self.where}".replace(" ", "_")


def _size(op: str) -> int:
    return {
        "put-small": SMALL,
        "put-multipart": LARGE,
        "put-one-part": PART_SIZE,
        "client-mpu": sum(MPU_PARTS),
        "get-full": DOWNLOAD,
        "get-range": RANGE[1] - RANGE[0],
        "list": 8 * KIB,
    }[op]


def _points(op: str) -> dict[str, int]:
    """Byte offsets in the faulted direction: in the first request's or answer's headers,
    in the middle of the body, and in its last 64 KiB."""
    size = _size(op)
    first = 300 if op.startswith(("put", "client")) else 100
    return {"headers": first, "mid-body": size // 2, "end-of-body": size - 64 * KIB}


def _slow_and_cut(op: str, direction: str, side: str) -> list[Case]:
    """Latency, throttle, and a cut and a reset at each point of the body `direction` carries."""
    cases = [
        Case(op, "latency 20ms", (("latency", 0.02),)),
        Case(op, "throttle 8MiB/s", (("bandwidth", 8 * MIB),)),
    ]
    for how, label in (("close", "cut once"), ("reset", "reset once")):
        extra = (("how", "reset"),) if how == "reset" else ()
        cases += [
            Case(op, label, (("cut_after", n), ("direction", direction), *extra), f"{side} {p}")
            for p, n in _points(op).items()
        ]
    return cases


def _cases() -> list[Case]:
    cases = []
    for op in ("put-small", "put-multipart", "client-mpu"):
        points = _points(op)
        cases += [
            *_slow_and_cut(op, "up", "request"),
            Case(
                op,
                "reset once",
                (("cut_after", 100), ("direction", "down"), ("how", "reset")),
                "S3 answer headers",
            ),
            Case(
                op,
                "reset from then on",
                (
                    ("cut_after", points["mid-body"]),
                    ("direction", "up"),
                    ("how", "reset"),
                    ("once", False),
                ),
                "request mid-body",
            ),
            Case(op, "black hole", (("blackhole", True),)),
        ]
    one = _points("put-one-part")  # exactly one part: multipart with one part, not PutObject
    cases += [
        Case(
            "put-one-part",
            "reset once",
            (("cut_after", one["mid-body"]), ("direction", "up"), ("how", "reset")),
            "request mid-body",
        ),
        Case(
            "put-one-part",
            "cut once",
            (("cut_after", one["end-of-body"]), ("direction", "up")),
            "request end-of-body",
        ),
        Case(
            "put-one-part",
            "reset from then on",
            (
                ("cut_after", one["mid-body"]),
                ("direction", "up"),
                ("how", "reset"),
                ("once", False),
            ),
            "request mid-body",
        ),
    ]
    for op in ("put-multipart", "client-mpu"):
        mid = _points(op)["mid-body"]
        settings = (("blackhole_after", mid), ("direction", "up"))
        cases.append(Case(op, "black hole", settings, "from request mid-body"))
    for op in ("get-full", "get-range"):
        cases += [
            *_slow_and_cut(op, "down", "answer"),
            Case(
                op,
                "reset once",
                (("cut_after", 100), ("direction", "up"), ("how", "reset")),
                "request headers",
            ),
            Case(op, "black hole", (("blackhole", True),)),
        ]
    mid = _points("get-full")["mid-body"]
    settings = (("blackhole_after", mid), ("direction", "down"))
    cases.append(Case("get-full", "black hole", settings, "from answer mid-body"))
    cases += [
        Case("list", "latency 20ms", (("latency", 0.02),)),
        Case("list", "cut once", (("cut_after", 100), ("direction", "down")), "answer headers"),
        Case(
            "list",
            "reset once",
            (("cut_after", 100), ("direction", "down"), ("how", "reset")),
            "answer headers",
        ),
        Case(
            "list",
            "reset once",
            (("cut_after", 4000), ("direction", "down"), ("how", "reset")),
            "answer mid-body",
        ),
        Case(
            "list",
            "reset from then on",
            (("cut_after", 100), ("direction", "down"), ("how", "reset"), ("once", False)),
            "answer headers",
        ),
        Case("list", "black hole", (("blackhole", True),)),
    ]
    return cases


CASES = _cases()


@dataclass
class Outcome:
    seen: Seen | None = None
    ok: bool = False
    described: str = ""
    first_failure: Seen | None = None


def _run(st: Stack, op: str, path: str, data: bytes) -> Outcome:
    gw = st.gateway
    if op.startswith("put"):
        seen = put(gw, path, data)
        return Outcome(seen, seen.ok, seen.describe(), None if seen.ok else seen)
    if op == "client-mpu":
        parts = [data[: MPU_PARTS[0]], data[MPU_PARTS[0] :]]
        result = client_multipart(gw, path, parts)
        failed = result.first_failure()
        return Outcome(None, result.ok, result.describe(), failed[1] if failed else None)
    if op == "get-full":
        seen = get(gw, path)
    elif op == "get-range":
        seen = get(gw, path, RANGE)
    else:
        seen = listing(gw, path)
    return Outcome(seen, seen.ok, seen.describe(), None if seen.ok else seen)


def _prepare(st: Stack, op: str, base: str) -> tuple[str, bytes]:
    """The path the operation works on and the bytes it sends or should get back."""
    if op.startswith(("put", "client")):
        return f"{base}/{op}.bin", payload(_size(op), seed=hash(base) % 1000)
    if op == "list":
        for i in range(LISTED):
            st.s3.put_object(Bucket="artifacts", Key=f"{PREFIX}/{base}/dir/f{i:03d}.txt", Body=b"x")
        return f"{base}/dir", b""
    data = payload(DOWNLOAD, seed=7)
    st.s3.put_object(Bucket="artifacts", Key=f"{PREFIX}/{base}/blob.bin", Body=data)
    return f"{base}/blob.bin", data[RANGE[0] : RANGE[1]] if op == "get-range" else data


def _check(st: Stack, case: Case, out: Outcome, path: str, data: bytes) -> str:
    """The invariants; returns what was left, for the table."""
    what = case.id
    if out.first_failure is not None:
        assert_clear_error(out.first_failure, what)
    key = f"{PREFIX}/{path}"
    if case.op.startswith(("put", "client")):
        stored = s3_object(st.s3, key)
        assert_write_invariants(out.ok, stored, data, what)
        if (
            not case.persistent
            and case.op != "client-mpu"
            and case.kwargs.get("direction") != "down"
        ):
            # The gateway's own multipart upload: aborted by the gateway (the fault was spent).
            # (A lost answer to CreateMultipartUpload, retried, orphans an upload whose id the
            # gateway never saw: only the cleanup pass can remove that one.)
            assert wait_until(lambda: not pending(st.s3, key), 15), (what, pending(st.s3, key))
        left = pending(st.s3, key)
        if left:
            LEFT_FOR_CLEANUP.append(key)
        parts = [f"object {'whole' if stored is not None else 'absent'}"]
        if left:
            parts.append(f"{len(left)} multipart upload(s) until the cleanup pass")
        return ", ".join(parts)
    if case.op == "list":
        if out.ok:
            assert out.seen is not None and out.seen.json is not None
            assert len(out.seen.json["files"]) == LISTED, what
        else:
            assert out.seen is not None
            assert_clear_error(out.seen, what)
        return "nothing"
    assert out.seen is not None
    assert_download_invariants(out.seen, data, what)
    return "nothing"


def _expectations(case: Case, out: Outcome) -> None:
    """What must hold for each kind of fault."""
    if case.fault.startswith(("latency", "throttle")):
        assert out.ok, f"{case.id}: a slow S3 is no failure: {out.described}"
    if case.once and case.op.startswith("put"):
        assert out.ok, f"{case.id}: a one-off fault must cost the client nothing: {out.described}"
    if case.once and case.op == "client-mpu":
        assert out.ok, (
            f"{case.id}: a part sent again after a clear error must succeed: {out.described}"
        )
    if case.once and (case.where.endswith("headers")):
        assert out.ok, f"{case.id}: a read is retried before its first byte: {out.described}"
    if case.persistent and case.op.startswith("put"):
        assert not out.ok, f"{case.id}: {out.described} although S3 never took the body"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_s3_fault(stack: Stack, case: Case, monkeypatch):
    if case.kwargs.get("blackhole") or "blackhole_after" in case.kwargs:
        monkeypatch.setattr(harness, "client_timeout", BLACKHOLE_CLIENT_TIMEOUT)
    assert quiesce(stack.proxy), "the gateway is still talking to S3 after the last case"
    base = f"t{uuid.uuid4().hex[:10]}"
    path, data = _prepare(stack, case.op, base)
    before = stack.proxy.stats()
    stack.proxy.fault(**case.kwargs)
    out = _run(stack, case.op, path, data)
    fired = stack.proxy.wait_fired(0.1)
    stack.proxy.clear()
    after = stack.proxy.stats()

    # The fault happened where it was meant to: a test that injects nothing proves nothing.
    if "cut_after" in case.kwargs or "blackhole_after" in case.kwargs:
        assert fired, f"{case.id}: the fault never fired"
    elif case.kwargs.get("blackhole"):
        assert after.dropped > before.dropped, f"{case.id}: nothing fell into the black hole"
    else:
        assert after.bytes_up + after.bytes_down > before.bytes_up + before.bytes_down

    try:
        left = _check(stack, case, out, path, data)
        _expectations(case, out)
    except AssertionError as exc:
        record(Row(case.fault, case.where, case.op, out.described, f"TEST FAILED: {exc}"[:300]))
        raise

    # The gateway serves normally again, with no restart.
    again_path, again_data = _prepare(stack, case.op, f"{base}-again")
    monkeypatch.setattr(harness, "client_timeout", harness.TIMEOUT)
    again = _run(stack, case.op, again_path, again_data)
    assert again.ok, f"{case.id}: after the fault cleared: {again.described}"
    if case.op.startswith(("put", "client")):
        assert sha(s3_object(stack.s3, f"{PREFIX}/{again_path}") or b"") == sha(again_data)
    elif case.op != "list":
        assert again.seen is not None and sha(again.seen.body) == sha(again_data)

    assert stack.baseline is not None
    settle(stack.pid, stack.backend_ports, stack.baseline, case.id)
    record(Row(case.fault, case.where, case.op, out.described, left))


def test_cleanup_pass_removes_every_dangling_upload(stack: Stack):
    """Last in the module: whatever uploads the faults left, the gateway's cleanup pass aborts."""
    log = cleanup_pass(stack.workdir, stack.seaweed.endpoint, PREFIX)
    assert pending(stack.s3, f"{PREFIX}/") == [], log[-2000:]
    record(
        Row(
            "(after all S3 faults)",
            "cleanup pass",
            "all",
            f"{len(LEFT_FOR_CLEANUP)} upload(s) left by faults",
            "no multipart upload left",
        )
    )
