"""Signed part and download URLs: forged, tampered and expired ones are refused; ranges served."""

from __future__ import annotations

import os
import urllib.parse

import requests

from gateway.links.signing import Signer
from tests.helpers.multipart import (
    MIB,
    SECRET,
    assert_error,
    create,
    mpu,
    put_part,
    stored_parts,
    with_query,
)

PRESIGNED = "/api/2.0/mlflow-artifacts/presigned"


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def flip(value: str) -> str:
    """The same string with its first character changed."""
    return ("0" if value[0] != "0" else "1") + value[1:]


def presign(gw, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{gw.url}{PRESIGNED}/{path}", headers=headers, timeout=30)


def test_forged_or_tampered_part_urls_are_refused(replicas, s3, exp):
    gw = replicas.a
    path = f"{exp}/f.bin"
    created = create(gw, exp, "f.bin", 2)
    url, upload_id = created["credentials"][0]["url"], created["upload_id"]
    query = query_of(url)
    stranger = Signer(b"a different secret of 32 bytes..")
    unsigned = {k: v for k, v in query.items() if k != "signature"}
    forged = {
        "flipped signature": with_query(url, signature=flip(query["signature"])),
        "another secret": with_query(
            url,
            signature=stranger.signature(("part", path, upload_id, 1), int(query["expires"])),
        ),
        "later expiry": with_query(url, expires=str(int(query["expires"]) + 3600)),
        "other part number": with_query(url, part_number="2"),
        "other upload id": with_query(url, upload_id=flip(upload_id[::-1])[::-1]),
        "other path": url.replace("/f.bin?", "/g.bin?"),
        "no signature": url.split("?")[0] + "?" + urllib.parse.urlencode(unsigned),
    }
    for name, candidate in forged.items():
        resp = requests.put(candidate, data=b"forged", timeout=30)
        assert resp.status_code == 403, name
        assert_error(resp, 403, "PERMISSION_DENIED")
    assert stored_parts(gw, s3, path, upload_id) == {}
    mpu(gw, "abort", exp, path="f.bin", upload_id=upload_id).raise_for_status()


def test_expired_urls_are_refused_and_fresh_ones_signed_alike_accepted(replicas, s3, exp):
    gw = replicas.a
    path = f"{exp}/e.bin"
    signer = Signer(SECRET.encode())  # the replicas' configured secret
    created = create(gw, exp, "e.bin", 1)
    url, upload_id = created["credentials"][0]["url"], created["upload_id"]
    fields = ("part", path, upload_id, 1)
    expired = with_query(url, **signer.query(fields, ttl=-60))
    late = requests.put(expired, data=b"late", timeout=30)
    assert "expired" in assert_error(late, 403, "PERMISSION_DENIED")
    assert stored_parts(gw, s3, path, upload_id) == {}
    fresh = with_query(url, **signer.query(fields, ttl=60))
    assert requests.put(fresh, data=b"on time", timeout=30).status_code == 200
    mpu(gw, "abort", exp, path="e.bin", upload_id=upload_id).raise_for_status()

    requests.put(f"{gw.api}/{path}", data=b"served", timeout=30).raise_for_status()
    download = presign(gw, path).json()["url"]
    expired = with_query(download, **signer.query(("download", path), ttl=-60))
    assert "expired" in assert_error(requests.get(expired, timeout=30), 403, "PERMISSION_DENIED")
    fresh = with_query(download, **signer.query(("download", path), ttl=60))
    assert requests.get(fresh, timeout=30).content == b"served"
    requests.delete(f"{gw.api}/{exp}", timeout=30).raise_for_status()


def test_presigned_download_is_a_signed_range_capable_url(replicas, exp):
    a, b = replicas.a, replicas.b
    path = f"{exp}/d/data.bin"
    data = os.urandom(3 * MIB + 5)
    requests.put(f"{a.api}/{path}", data=data, timeout=60).raise_for_status()

    body = presign(b, path).json()
    assert body == {"url": body["url"], "headers": {}, "file_size": len(data)}
    assert body["url"].startswith(f"{a.url}/api/2.0/mlflow-artifacts/signed/{path}?")
    ranged = requests.get(body["url"], headers={"Range": "bytes=100-199"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert requests.get(body["url"], timeout=60).content == data
    head = requests.head(body["url"], timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))

    requests.put(f"{a.api}/{exp}/d/other.bin", data=b"other", timeout=30).raise_for_status()
    elsewhere = body["url"].replace("/data.bin?", "/other.bin?")
    assert_error(requests.get(elsewhere, timeout=30), 403, "PERMISSION_DENIED")
    unsigned = body["url"].split("?")[0]
    assert_error(requests.get(unsigned, timeout=30), 403, "PERMISSION_DENIED")
    assert_error(presign(a, f"{exp}/d/missing.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(presign(a, f"{exp}/%2e%2e/x"), 400, "INVALID_PARAMETER_VALUE")
    requests.delete(f"{a.api}/{exp}", timeout=30).raise_for_status()


def test_links_are_built_on_public_url_whatever_the_request_says(replicas, exp):
    """Without public_url, see tests/test_hosts.py: X-Forwarded-* count from trusted proxies."""
    a, b = replicas.a, replicas.b  # b is configured with public_url = a.url
    path = f"{exp}/fw.bin"
    requests.put(f"{a.api}/{path}", data=b"fw", timeout=30).raise_for_status()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ml.example.com, proxy.lan"}
    assert presign(b, path, **forwarded).json()["url"].startswith(f"{a.url}/api/")
    resp = requests.post(
        f"{b.url}/api/2.0/mlflow-artifacts/mpu/create/{exp}",
        json={"path": "up.bin", "num_parts": 2},
        headers=forwarded,
        timeout=30,
    )
    created = resp.json()
    assert all(c["url"].startswith(f"{a.url}/api/") for c in created["credentials"])
    mpu(a, "abort", exp, path="up.bin", upload_id=created["upload_id"]).raise_for_status()
    requests.delete(f"{a.api}/{exp}", timeout=30).raise_for_status()


def test_secret_and_signatures_stay_out_of_logs(replicas, exp):
    a = replicas.a
    created = create(replicas.b, exp, "log.bin", 1)
    credential = created["credentials"][0]
    put_part(credential, b"logged").raise_for_status()
    requests.put(with_query(credential["url"], signature="0" * 64), data=b"x", timeout=30)
    mpu(a, "abort", exp, path="log.bin", upload_id=created["upload_id"]).raise_for_status()
    logs = a.process.log_text() + replicas.b.process.log_text()
    assert "/mpu/part/" in logs and "signature=***" in logs  # the access log saw the parts
    assert query_of(credential["url"])["signature"] not in logs
    assert SECRET not in logs and "0" * 64 not in logs


def test_a_link_lives_at_least_its_ttl_whatever_the_fraction_of_the_second(monkeypatch):
    """`expires` is whole seconds; truncating `now` cut up to 1 s off a 1 s link."""
    signer = Signer(b"k" * 32)
    monkeypatch.setattr("gateway.links.signing.time.time", lambda: 1000.99)
    query = signer.query(("part", "p", "u", 1), ttl=1)
    assert int(query["expires"]) >= 1000.99 + 1
    monkeypatch.setattr("gateway.links.signing.time.time", lambda: 1001.98)
    signer.verify(("part", "p", "u", 1), query)  # 0.99 s later: still valid
