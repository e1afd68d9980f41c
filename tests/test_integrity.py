"""Digests end to end on the shared local and S3 gateways: every stored file has a SHA-256,
served as `Repr-Digest` (RFC 9530); a client digest that disagrees leaves nothing stored."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest
import requests

from tests.helpers.cli import run_cli
from tests.helpers.stack import BUCKET, Gateway, s3_env

pytestmark = pytest.mark.slow  # the session's SeaweedFS and gateway processes

MIB = 1024 * 1024


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _url(gateway: Gateway, exp: str, name: str) -> str:
    return f"{gateway.api}/{exp}/{name}"


@pytest.mark.parametrize("size", [5, 9 * MIB], ids=["small", "multipart"])
def test_repr_digest_is_sha256sum_of_what_was_sent(
    gateway: Gateway, exp: str, size: int, tmp_path, s3
) -> None:
    data = os.urandom(size)
    source = tmp_path / "sent.bin"
    source.write_bytes(data)
    url = _url(gateway, exp, "model.bin")
    assert requests.put(url, data=data, timeout=60).status_code == 200
    expected = subprocess.run(
        ["sha256sum", str(source)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    wanted = f"sha-256=:{_b64(bytes.fromhex(expected))}:"
    head = requests.head(url, timeout=60)
    got = requests.get(url, timeout=60)
    ranged = requests.get(url, headers={"Range": "bytes=0-1"}, timeout=60)
    assert got.content == data
    assert head.headers.get("Repr-Digest") == wanted
    assert got.headers.get("Repr-Digest") == wanted
    assert ranged.status_code == 206 and ranged.headers.get("Repr-Digest") == wanted
    if gateway.destination == "s3" and size < 8 * MIB:  # kept as any S3 client reads it
        stored = s3.head_object(Bucket=BUCKET, Key=gateway.key(f"{exp}/model.bin"))
        assert stored["Metadata"]["sha256"] == expected
    elif gateway.destination == "s3":  # a multipart object: as a tag (digest_tags.py)
        tags = s3.get_object_tagging(Bucket=BUCKET, Key=gateway.key(f"{exp}/model.bin"))
        assert {"Key": "sha256", "Value": expected} in tags["TagSet"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Content-Digest", lambda d: f"sha-256=:{_b64(hashlib.sha256(d + b'x').digest())}:"),
        ("Repr-Digest", lambda d: f"sha-512=:{_b64(hashlib.sha512(d[1:]).digest())}:"),
        ("Content-MD5", lambda d: _b64(hashlib.md5(d[:-1]).digest())),
        ("x-amz-checksum-sha256", lambda d: _b64(hashlib.sha256(b"").digest())),
    ],
)
@pytest.mark.parametrize("size", [1000, 9 * MIB], ids=["small", "multipart"])
def test_a_wrong_client_digest_is_refused_and_nothing_is_stored(
    gateway: Gateway, exp: str, header: str, value, size: int, s3
) -> None:
    data = os.urandom(size)
    url = _url(gateway, exp, "corrupt.bin")
    resp = requests.put(url, data=data, headers={header: value(data)}, timeout=60)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert header in body["message"] and "nothing was stored" in body["message"]
    assert requests.get(url, timeout=60).status_code == 404
    if gateway.destination == "local":
        directory = gateway.root / exp
        assert not directory.exists() or not any(directory.iterdir())  # no temp file either
    else:
        prefix = gateway.key(f"{exp}/")
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount", 0) == 0
        uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
        assert uploads == []


def test_matching_client_digests_are_accepted(gateway: Gateway, exp: str) -> None:
    data = b"the bytes the client meant"
    headers = {
        "Content-Digest": f"sha-256=:{_b64(hashlib.sha256(data).digest())}:, unixsum=:AAAA:",
        "Repr-Digest": f"sha-512=:{_b64(hashlib.sha512(data).digest())}:",
        "Content-MD5": _b64(hashlib.md5(data).digest()),
        "x-amz-checksum-sha256": _b64(hashlib.sha256(data).digest()),
    }
    url = _url(gateway, exp, "ok.txt")
    assert requests.put(url, data=data, headers=headers, timeout=60).status_code == 200
    assert requests.get(url, timeout=60).content == data


def test_a_malformed_digest_header_is_a_400(gateway: Gateway, exp: str) -> None:
    url = _url(gateway, exp, "bad.txt")
    resp = requests.put(url, data=b"x", headers={"Content-Digest": "sha-256=abc"}, timeout=60)
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert requests.get(url, timeout=60).status_code == 404


def test_local_digest_lives_in_an_xattr_and_is_never_listed(
    local_gateway: Gateway, exp: str
) -> None:
    url = _url(local_gateway, exp, "a.txt")
    assert requests.put(url, data=b"abc", timeout=60).status_code == 200
    stored = os.getxattr(local_gateway.root / exp / "a.txt", "user.mlflow_gateway.sha256")
    assert stored.decode() == hashlib.sha256(b"abc").hexdigest()
    listing = requests.get(f"{local_gateway.api}", params={"path": exp}, timeout=60).json()
    assert [f["path"] for f in listing["files"]] == ["a.txt"]


def test_verify_finds_an_object_changed_behind_the_gateway(
    s3_gateway: Gateway, seaweed, exp: str, s3
) -> None:
    for name in ("kept.bin", "changed.bin"):
        url = _url(s3_gateway, exp, name)
        assert requests.put(url, data=os.urandom(2000), timeout=60).status_code == 200
    key = s3_gateway.key(f"{exp}/changed.bin")
    stored = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"tampered", Metadata=stored)
    env = s3_env(seaweed.endpoint)
    args = ["--artifacts-destination", f"s3://{BUCKET}/{s3_gateway.prefix}"]
    result = run_cli("verify", exp, *args, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"MISMATCH   {exp}/changed.bin" in result.stdout
    assert "2 files" in result.stdout and "1 matched, 1 mismatched" in result.stdout
