"""Path traversal corpus over every method on both destinations (MLflow CVE shapes)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import urllib.parse
from pathlib import Path

import pytest

from tests.helpers.stack import BUCKET, OUTSIDE_PREFIX, Gateway

SECRET = b"top secret outside the artifact root"
API = "/api/2.0/mlflow-artifacts/artifacts"

# Raw URL tails, sent byte for byte (no client-side normalisation).
URL_CORPUS = [
    "../outside/secret.txt",
    "../../etc/passwd",
    "a/../../outside/secret.txt",
    "a/./b.txt",
    "..%2foutside%2fsecret.txt",
    "%2e%2e/outside/secret.txt",
    "%2E%2E%2Foutside%2Fsecret.txt",
    "..%5coutside%5csecret.txt",
    "..\\outside\\secret.txt",
    "%252e%252e/outside/secret.txt",
    "%252e%252e%252foutside%252fsecret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "C:/Windows/win.ini",
    "C:%5cWindows%5cwin.ini",
    "c:",
    "a%00b.txt",
    "a/b%00/../c",
    "file:///etc/passwd",
    "a/%23/b",
]
QUERY_CORPUS = [
    "..",
    "../outside",
    "a/../..",
    "/",
    "/etc",
    "..\\outside",
    "C:\\",
    "%2e%2e",
    "%2e%2e%2foutside",
    "a\x00b",
    "./../outside",
]


def raw_request(gw: Gateway, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    parsed = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.rglob("*")
        if p.is_file() and "mlartifacts" not in p.parts and not p.name.endswith(".log")
    }


@pytest.fixture
def planted(gateway: Gateway, s3) -> Gateway:
    """A secret beside the root: on disk next to the local root, in S3 beside the prefix."""
    if gateway.destination == "local":
        assert gateway.root is not None
        outside = gateway.root.parent / OUTSIDE_PREFIX
        outside.mkdir(exist_ok=True)
        (outside / "secret.txt").write_bytes(SECRET)
    else:
        s3.put_object(Bucket=BUCKET, Key=f"{OUTSIDE_PREFIX}/secret.txt", Body=SECRET)
    return gateway


def bucket_keys(s3) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


@pytest.mark.parametrize("tail", URL_CORPUS)
def test_url_paths_outside_the_root_are_refused_for_every_method(planted, s3, tail):
    before_disk = snapshot(planted.root.parent) if planted.root else None
    before_keys = bucket_keys(s3)
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        status, body = raw_request(
            planted, method, f"{API}/{tail}", b"evil" if method == "PUT" else b""
        )
        assert status == 400, (method, tail, status, body)
        assert SECRET not in body
        if method != "HEAD":
            assert b'"error_code": "INVALID_PARAMETER_VALUE"' in body
    if planted.root:
        assert snapshot(planted.root.parent) == before_disk
        assert (planted.root.parent / OUTSIDE_PREFIX / "secret.txt").read_bytes() == SECRET
    assert bucket_keys(s3) == before_keys


@pytest.mark.parametrize("value", QUERY_CORPUS)
def test_listing_outside_the_root_is_refused(planted, value):
    for prefix in ("/api/2.0", "/ajax-api/2.0"):
        query = urllib.parse.urlencode({"path": value})
        status, body = raw_request(planted, "GET", f"{prefix}/mlflow-artifacts/artifacts?{query}")
        assert status == 400, (value, status, body)
        assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"
        assert b"secret.txt" not in body and b'"files"' not in body


def test_symlink_out_of_the_local_root_is_not_followed(local_gateway, http):
    root = local_gateway.root
    assert root is not None
    target = root.parent / "symlink-target"
    target.mkdir(exist_ok=True)
    (target / "secret.txt").write_bytes(SECRET)
    link = root / "linked"
    if not link.exists():
        os.symlink(target, link)
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        resp = http.request(method, f"{local_gateway.api}/linked/secret.txt", data=b"x", timeout=30)
        assert resp.status_code == 400, (method, resp.text)
        assert SECRET not in resp.content
    listing = http.get(local_gateway.api, params={"path": "linked"}, timeout=30)
    assert listing.status_code == 400
    assert (target / "secret.txt").read_bytes() == SECRET
    assert sorted(p.name for p in target.iterdir()) == ["secret.txt"]


TEMP_NAME = ".model.pkl.0123456789abcdef0123456789abcdef.gateway-part"


def test_a_name_like_an_upload_temp_file_is_neither_listed_nor_served(local_gateway, http, exp):
    """Such a file may be another upload still being written: never readable, replaceable or
    removable through the API, whoever put it there."""
    assert local_gateway.root is not None
    directory = local_gateway.root / exp
    directory.mkdir()
    (directory / TEMP_NAME).write_bytes(SECRET)
    assert http.get(local_gateway.api, params={"path": exp}, timeout=30).json() == {}
    for tail in (TEMP_NAME, f"{TEMP_NAME}/inner.txt"):
        for method in ("GET", "HEAD", "PUT", "DELETE"):
            target = f"{local_gateway.api}/{exp}/{tail}"
            resp = http.request(method, target, data=b"x", timeout=30)
            assert resp.status_code == 400, (method, tail, resp.status_code)
            assert SECRET not in resp.content
    listing = http.get(local_gateway.api, params={"path": f"{exp}/{TEMP_NAME}"}, timeout=30)
    assert listing.status_code == 400
    assert (directory / TEMP_NAME).read_bytes() == SECRET
    assert sorted(p.name for p in directory.iterdir()) == [TEMP_NAME]
    shutil.rmtree(directory)


def test_listings_leave_out_symlinks_that_lead_out_of_the_root(local_gateway, http, exp):
    root = local_gateway.root
    assert root is not None
    outside = root.parent / f"outside-{exp}"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    directory = root / exp
    directory.mkdir()
    (directory / "real.txt").write_bytes(b"real")
    os.symlink(outside / "secret.txt", directory / "out-file.txt")
    os.symlink(outside, directory / "out-dir")
    os.symlink(directory / "real.txt", directory / "in-file.txt")
    files = http.get(local_gateway.api, params={"path": exp}, timeout=30).json()["files"]
    listed = {entry["path"].rsplit("/", 1)[-1]: entry for entry in files}
    assert sorted(listed) == ["in-file.txt", "real.txt"]
    assert listed["in-file.txt"]["file_size"] == 4
    for name in ("out-file.txt", "out-dir/secret.txt"):
        resp = http.get(f"{local_gateway.api}/{exp}/{name}", timeout=30)
        assert resp.status_code == 400 and SECRET not in resp.content
    assert http.get(f"{local_gateway.api}/{exp}/in-file.txt", timeout=30).content == b"real"
    shutil.rmtree(directory)
    shutil.rmtree(outside)
