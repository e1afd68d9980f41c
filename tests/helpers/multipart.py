"""The multipart wire API: two replicas sharing a signing secret, and the calls on them."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import requests

from tests.helpers.stack import BUCKET, Gateway

SECRET = "multipart-signing-secret-4b1f0e9d8c7a6b5e4d3c2b1a"
MIB = 1024 * 1024
MAX_PART = 8 * MIB
MPU = "/api/2.0/mlflow-artifacts/mpu"


@dataclass
class Replicas:
    """`a` and `b` serve the same destination; `b` hands out links under `a`'s URL."""

    a: Gateway
    b: Gateway

    @property
    def destination(self) -> str:
        return self.a.destination


def replica_args(destination: str, root: str) -> list[str]:
    target = f"s3://{BUCKET}/replicas" if destination == "s3" else root
    return [
        "--artifacts-destination",
        target,
        "--multipart.max-part-size",
        str(MAX_PART),
        "--log-level",
        "debug",
    ]


def mpu(gw: Gateway, action: str, directory: str, **body) -> requests.Response:
    return requests.post(f"{gw.url}{MPU}/{action}/{directory}", json=body, timeout=60)


def create(gw: Gateway, directory: str, name: str, num_parts: int) -> dict:
    resp = mpu(gw, "create", directory, path=f"/home/me/{name}", num_parts=num_parts)
    assert resp.status_code == 200, resp.text
    return resp.json()


def put_part(credential: dict, data: bytes, **kw) -> requests.Response:
    return requests.put(
        credential["url"], data=data, headers=credential["headers"], timeout=60, **kw
    )


def with_query(url: str, **changes: str) -> str:
    """The URL with some query parameters replaced."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query)) | changes
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def assert_error(resp: requests.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    assert "Traceback" not in resp.text
    return body["message"]


def staged(gw: Gateway) -> list[str]:
    """What the local staging area holds (empty for S3)."""
    if gw.root is None:
        return []
    staging = gw.root / ".gateway-uploads"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def stored_parts(gw: Gateway, s3, path: str, upload_id: str) -> dict[int, int] | None:
    """Part number -> size as the destination holds them; None if the upload is gone."""
    if gw.destination == "local":
        assert gw.root is not None
        directory = gw.root / ".gateway-uploads" / upload_id
        if not directory.exists():
            return None
        return {int(p.name[:5]): p.stat().st_size for p in directory.glob("*.part")}
    try:
        listed = s3.list_parts(Bucket=BUCKET, Key=gw.key(path), UploadId=upload_id)
    except s3.exceptions.NoSuchUpload:
        return None
    return {p["PartNumber"]: p["Size"] for p in listed.get("Parts", [])}
