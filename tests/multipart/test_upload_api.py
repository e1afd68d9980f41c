"""`mpu/create|complete|abort` and part PUTs on the wire, on both destinations and two replicas."""

from __future__ import annotations

import os
import socket
import time
import urllib.parse

import pytest
import requests

from tests.helpers.multipart import (
    MAX_PART,
    MIB,
    MPU,
    assert_error,
    create,
    mpu,
    put_part,
    staged,
    stored_parts,
    with_query,
)
from tests.helpers.processes import wait_until
from tests.helpers.storage import stored_bytes


def listing(gw, directory: str) -> dict:
    return requests.get(gw.api, params={"path": directory}, timeout=30).json()


def test_parts_through_either_replica_make_the_object_appear_only_on_complete(replicas, s3, exp):
    a, b = replicas.a, replicas.b
    directory, path = f"{exp}/run/artifacts/model", f"{exp}/run/artifacts/model/w.bin"
    created = create(b, directory, "w.bin", 3)
    assert [c["part_number"] for c in created["credentials"]] == [1, 2, 3]
    for credential in created["credentials"]:
        assert credential["url"].startswith(f"{a.url}/api/2.0/mlflow-artifacts/mpu/part/{path}?")
        assert credential["headers"] == {}
    upload_id = created["upload_id"]
    blocks = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    etags = {}
    for index in (2, 0, 1):  # out of order, all through replica a
        resp = put_part(created["credentials"][index], blocks[index])
        assert resp.status_code == 200, resp.text
        etags[index + 1] = resp.headers["ETag"]
    assert stored_parts(a, s3, path, upload_id) == {1: 5 * MIB, 2: 5 * MIB, 3: 4}
    assert requests.get(f"{a.api}/{path}", timeout=30).status_code == 404
    assert listing(a, directory) == {}

    parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    resp = mpu(b, "complete", directory, path="w.bin", upload_id=upload_id, parts=parts)
    assert resp.status_code == 200 and resp.json() == {}
    assert stored_bytes(a, s3, path) == b"".join(blocks)
    assert stored_parts(a, s3, path, upload_id) is None
    requests.delete(f"{a.api}/{exp}", timeout=60).raise_for_status()


def test_a_part_uploaded_again_replaces_the_first(replicas, s3, exp):
    gw = replicas.a
    created = create(gw, exp, "retry.bin", 1)
    credential = created["credentials"][0]
    put_part(credential, b"first attempt").raise_for_status()
    second = put_part(credential, b"second")
    parts = [{"part_number": 1, "etag": second.headers["ETag"]}]
    resp = mpu(gw, "complete", exp, path="retry.bin", upload_id=created["upload_id"], parts=parts)
    assert resp.status_code == 200, resp.text
    assert stored_bytes(gw, s3, f"{exp}/retry.bin") == b"second"
    requests.delete(f"{gw.api}/{exp}", timeout=60).raise_for_status()


def test_abort_removes_every_part(replicas, s3, exp):
    gw = replicas.a
    created = create(gw, exp, "gone.bin", 2)
    for credential in created["credentials"]:
        put_part(credential, os.urandom(MIB)).raise_for_status()
    upload_id = created["upload_id"]
    assert stored_parts(gw, s3, f"{exp}/gone.bin", upload_id) == {1: MIB, 2: MIB}
    resp = mpu(replicas.b, "abort", exp, path="gone.bin", upload_id=upload_id)
    assert resp.status_code == 200 and resp.json() == {}
    assert stored_parts(gw, s3, f"{exp}/gone.bin", upload_id) is None
    assert stored_bytes(gw, s3, f"{exp}/gone.bin") is None
    assert put_part(created["credentials"][0], b"late").status_code == 404


def test_zero_parts_is_one_empty_part(replicas, s3, exp):
    """An empty file: `num_parts: 0` gets one part URL (3.18's client asks for one itself), so
    the upload can complete; `mlflow server` would hand out none and the upload never ends."""
    gw = replicas.a
    before = staged(gw)
    created = create(gw, exp, "empty.txt", 0)
    assert [c["part_number"] for c in created["credentials"]] == [1]
    part = put_part(created["credentials"][0], b"")
    assert part.status_code == 200, part.text
    parts = [{"part_number": 1, "etag": part.headers["ETag"]}]
    resp = mpu(gw, "complete", exp, path="empty.txt", upload_id=created["upload_id"], parts=parts)
    assert resp.status_code == 200, resp.text
    assert stored_bytes(gw, s3, f"{exp}/empty.txt") == b""
    assert staged(gw) == before  # and on S3, no upload left: see no_dangling_uploads
    requests.delete(f"{gw.api}/{exp}", timeout=60).raise_for_status()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"path": "a.bin", "num_parts": -1}, "num_parts"),
        ({"path": "a.bin", "num_parts": 10_001}, "num_parts"),
        ({"path": "a.bin", "num_parts": "many"}, "num_parts"),
        ({"path": "a.bin"}, "num_parts"),
        ({"num_parts": 2}, "path"),
        ({"path": "..", "num_parts": 2}, "Invalid path"),  # MLflow 3.18's words for both
        ({"path": "dir/", "num_parts": 2}, "Invalid path"),
    ],
)
def test_create_refuses_bad_input_and_starts_nothing(replicas, s3, exp, body, fragment):
    before = staged(replicas.a)
    resp = requests.post(f"{replicas.a.url}{MPU}/create/{exp}", json=body, timeout=30)
    assert fragment in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert staged(replicas.a) == before  # and on S3, no upload: see no_dangling_uploads


def test_create_refuses_unsafe_paths_and_non_json(replicas):
    gw = replicas.a
    for directory in ("1/%2e%2e/x", "1/..%2fx", "%2Fetc"):
        resp = mpu(gw, "create", directory, path="a", num_parts=1)
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    resp = requests.post(f"{gw.url}{MPU}/create/1", data=b"{not json", timeout=30)
    assert "Invalid request body" in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_unknown_and_foreign_upload_ids_are_not_found(replicas, s3, exp):
    gw = replicas.a
    created = create(gw, exp, "mine.bin", 1)
    upload_id = created["upload_id"]
    parts = [{"part_number": 1, "etag": '"0"'}]
    for name, candidate in (("mine.bin", "no-such-upload"), ("other.bin", upload_id)):
        for action, extra in (("complete", {"parts": parts}), ("abort", {})):
            resp = mpu(gw, action, exp, path=name, upload_id=candidate, **extra)
            assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    assert stored_parts(gw, s3, f"{exp}/mine.bin", upload_id) == {}  # still there, untouched
    mpu(gw, "abort", exp, path="mine.bin", upload_id=upload_id).raise_for_status()


@pytest.mark.parametrize(
    ("listed", "fragment"),
    [
        ([], "1 to N"),
        ([(1, "ok"), (3, "ok")], "1 to N"),
        ([(1, "ok"), (1, "ok"), (2, "ok")], "1 to N"),
        ([(1, None), (2, "ok")], "without an ETag"),
        ([(1, "ok"), (2, '"0123456789abcdef0123456789abcdef"')], "do not match"),
        ([(1, "ok")], "missing from 'parts'"),
        ([(1, "ok"), (2, "ok"), (3, '"abc"')], "never uploaded"),
    ],
)
def test_complete_with_missing_or_wrong_parts_writes_nothing(replicas, s3, exp, listed, fragment):
    gw = replicas.a
    created = create(gw, exp, "c.bin", 3)
    etags = {}
    first, second = created["credentials"][:2]
    for credential, data in ((first, os.urandom(5 * MIB)), (second, b"two")):
        etags[credential["part_number"]] = put_part(credential, data).headers["ETag"]
    parts = [{"part_number": n, "etag": etags.get(n) if e == "ok" else e} for n, e in listed]
    resp = mpu(gw, "complete", exp, path="c.bin", upload_id=created["upload_id"], parts=parts)
    assert fragment in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert stored_bytes(gw, s3, f"{exp}/c.bin") is None
    assert stored_parts(gw, s3, f"{exp}/c.bin", created["upload_id"]) == {1: 5 * MIB, 2: 3}
    mpu(gw, "abort", exp, path="c.bin", upload_id=created["upload_id"]).raise_for_status()


@pytest.mark.parametrize("number", ["0", "10001", "-1", "x", ""])
def test_part_number_out_of_range_is_refused(replicas, s3, exp, number):
    gw = replicas.a
    created = create(gw, exp, "n.bin", 1)
    credential = created["credentials"][0]
    resp = put_part({**credential, "url": with_query(credential["url"], part_number=number)}, b"x")
    assert "part_number" in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert stored_parts(gw, s3, f"{exp}/n.bin", created["upload_id"]) == {}
    mpu(gw, "abort", exp, path="n.bin", upload_id=created["upload_id"]).raise_for_status()


def test_oversized_and_unsized_parts_are_refused(replicas, s3, exp):
    gw = replicas.a
    created = create(gw, exp, "big.bin", 1)
    credential = created["credentials"][0]
    resp = put_part(credential, b"x" * (MAX_PART + 1))
    assert str(MAX_PART) in assert_error(resp, 413, "INVALID_PARAMETER_VALUE")
    resp = put_part(credential, iter([b"chunked ", b"body"]))  # no Content-Length
    assert "Content-Length" in assert_error(resp, 411, "BAD_REQUEST")
    assert stored_parts(gw, s3, f"{exp}/big.bin", created["upload_id"]) == {}
    mpu(gw, "abort", exp, path="big.bin", upload_id=created["upload_id"]).raise_for_status()


def _send_part_then_vanish(url: str, declared: int, sent: int) -> None:
    parts = urllib.parse.urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode())
        for _ in range(sent // MIB):
            sock.sendall(b"p" * MIB)
        time.sleep(0.5)  # let the part start streaming before the client vanishes


def test_a_part_abandoned_mid_body_leaves_no_part(replicas, s3, exp):
    gw = replicas.a
    created = create(gw, exp, "cut.bin", 1)
    upload_id = created["upload_id"]
    _send_part_then_vanish(created["credentials"][0]["url"], declared=6 * MIB, sent=3 * MIB)
    noticed = f"/mpu/part/{exp}/cut.bin: request body ended early"
    assert wait_until(lambda: noticed in gw.process.log_text())
    assert stored_parts(gw, s3, f"{exp}/cut.bin", upload_id) == {}
    if gw.root is not None:  # not even a temp file
        staging = gw.root / ".gateway-uploads" / upload_id
        assert [p.name for p in staging.iterdir()] == ["manifest.json"]
    assert requests.get(f"{gw.url}/health", timeout=30).text == "OK"
    mpu(gw, "abort", exp, path="cut.bin", upload_id=upload_id).raise_for_status()


def test_local_staging_area_is_hidden_and_unreachable(local_gateway, exp):
    gw = local_gateway
    created = create(gw, exp, "hidden.bin", 1)
    staging = f".gateway-uploads/{created['upload_id']}"
    assert gw.root is not None and (gw.root / staging / "manifest.json").is_file()
    root_listing = requests.get(gw.api, timeout=30).json().get("files", [])
    assert ".gateway-uploads" not in [entry["path"] for entry in root_listing]
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        resp = requests.request(method, f"{gw.api}/{staging}/manifest.json", data=b"x", timeout=30)
        assert resp.status_code == 400, method
    assert_error(
        requests.get(gw.api, params={"path": staging}, timeout=30), 400, "INVALID_PARAMETER_VALUE"
    )
    resp = mpu(gw, "create", ".gateway-uploads", path="x.bin", num_parts=1)
    assert "reserved" in assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert (gw.root / staging / "manifest.json").is_file()
    mpu(gw, "abort", exp, path="hidden.bin", upload_id=created["upload_id"]).raise_for_status()
