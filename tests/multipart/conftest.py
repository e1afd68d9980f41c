"""Two gateway replicas per destination sharing one signing secret, and the wire helpers."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import (
    BUCKET,
    Gateway,
    assert_no_pending_uploads,
    clean_env,
    s3_env,
    start_gateway,
)

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


def _replica_args(destination: str, root: str) -> list[str]:
    target = f"s3://{BUCKET}/replicas" if destination == "s3" else root
    return [
        "--artifacts-destination",
        target,
        "--multipart.max-part-size",
        str(MAX_PART),
        "--log-level",
        "debug",
    ]


@pytest.fixture(scope="session", params=["local", "s3"])
def replicas(request, tmp_path_factory) -> Iterator[Replicas]:
    destination = request.param
    workdir = tmp_path_factory.mktemp(f"replicas-{destination}")
    env = clean_env(GATEWAY_MULTIPART__SIGNING_SECRET=SECRET)
    if destination == "s3":
        env.update(s3_env(request.getfixturevalue("seaweed").endpoint))
    args = _replica_args(destination, str(workdir / "mlartifacts"))
    a_proc, a_url = start_gateway(workdir, args, env, name="a")
    try:
        b_proc, b_url = start_gateway(workdir, [*args, "--public-url", a_url], env, name="b")
    except BaseException:
        a_proc.stop()
        raise
    kind = {"prefix": "replicas"} if destination == "s3" else {"root": workdir / "mlartifacts"}
    try:
        yield Replicas(
            Gateway(a_proc, a_url, destination, **kind), Gateway(b_proc, b_url, destination, **kind)
        )
    finally:
        b_proc.stop()
        a_proc.stop()


@pytest.fixture(autouse=True)
def no_dangling_uploads(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test here that used SeaweedFS, it holds no multipart upload at all; a test
    that never asked for the stack (a pure config test) starts no server for this check."""
    yield
    assert_no_pending_uploads(request)


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
