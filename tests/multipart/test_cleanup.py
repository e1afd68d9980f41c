"""Abandoned uploads are aborted by the cleanup pass: at start-up, then periodically."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from pydantic import SecretStr

from gateway.config import S3Transfer
from gateway.stores import ArtifactStore
from gateway.stores.local import LocalStore
from gateway.stores.s3 import S3Options, S3Store
from tests.helpers.multipart import MIB, create, put_part, stored_parts
from tests.helpers.processes import wait_until
from tests.helpers.stack import ADMIN, BUCKET, Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import stored_bytes

SWEEP = ["--multipart.url-ttl", "1", "--multipart.cleanup-age", "2"]


def s3_store(endpoint: str, prefix: str) -> S3Store:
    dest = S3Options(
        uri=f"s3://{BUCKET}/{prefix}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=SecretStr(ADMIN.access_key),
        secret_access_key=SecretStr(ADMIN.secret_key),
    )
    return S3Store(dest, S3Transfer(), MIB)


async def _older_than(store: ArtifactStore, cutoff: datetime) -> list[str]:
    await store.start()
    try:
        return sorted(upload.path for upload in await store.list_uploads(cutoff))
    finally:
        await store.close()


def test_s3_lists_its_own_uploads_older_than_the_cutoff(seaweed, s3):
    prefix = f"sweep-{uuid.uuid4().hex[:8]}"
    inside = s3.create_multipart_upload(Bucket=BUCKET, Key=f"{prefix}/1/a.bin")["UploadId"]
    beside = s3.create_multipart_upload(Bucket=BUCKET, Key=f"{prefix}x/1/b.bin")["UploadId"]
    try:
        now = datetime.now(timezone.utc)
        store = s3_store(seaweed.endpoint, prefix)
        assert asyncio.run(_older_than(store, now - timedelta(hours=1))) == []
        store = s3_store(seaweed.endpoint, prefix)
        assert asyncio.run(_older_than(store, now + timedelta(minutes=1))) == ["1/a.bin"]
    finally:
        s3.abort_multipart_upload(Bucket=BUCKET, Key=f"{prefix}/1/a.bin", UploadId=inside)
        s3.abort_multipart_upload(Bucket=BUCKET, Key=f"{prefix}x/1/b.bin", UploadId=beside)


def test_local_lists_staged_uploads_older_than_the_cutoff(tmp_path):
    store = LocalStore(str(tmp_path / "root"), MIB)

    async def scenario() -> tuple[list[str], list[str]]:
        upload_id = await store.create_upload("1/a.bin")
        now = datetime.now(timezone.utc)
        try:
            return (
                await _older_than(store, now - timedelta(hours=1)),
                await _older_than(store, now + timedelta(minutes=1)),
            )
        finally:
            await store.abort_upload("1/a.bin", upload_id)

    assert asyncio.run(scenario()) == ([], ["1/a.bin"])


def _where(destination: str, workdir) -> dict:
    """A fresh destination: its own S3 prefix or local root."""
    if destination == "s3":
        return {"prefix": f"sweep-{uuid.uuid4().hex[:8]}"}
    return {"root": workdir / "root"}


def _sweeper(request, workdir, destination: str, where: dict, interval: int) -> Gateway:
    """A gateway that aborts uploads older than 2 s, every `interval` seconds."""
    env = clean_env()
    target = str(where.get("root"))
    if destination == "s3":
        env = clean_env(**s3_env(request.getfixturevalue("seaweed").endpoint))
        target = f"s3://{BUCKET}/{where['prefix']}"
    args = [
        "--artifacts-destination",
        target,
        *SWEEP,
        "--multipart.cleanup-interval",
        str(interval),
    ]
    process, url = start_gateway(workdir, args, env)
    return Gateway(process, url, destination, **where)


@pytest.mark.parametrize("destination", ["local", "s3"])
def test_start_up_pass_aborts_uploads_left_from_before(request, s3, tmp_path, destination):
    where, path = _where(destination, tmp_path), "7/run/artifacts/left.bin"
    if destination == "s3":
        key = f"{where['prefix']}/{path}"
        upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    else:
        upload_id = asyncio.run(LocalStore(str(where["root"]), MIB).create_upload(path))
    time.sleep(2.5)  # older than the gateway's cleanup_age of 2 s
    gw = _sweeper(request, tmp_path, destination, where, interval=3600)  # start-up pass only
    try:
        assert wait_until(lambda: stored_parts(gw, s3, path, upload_id) is None)
        assert wait_until(lambda: f"cleanup: aborted the upload to {path}" in gw.process.log_text())
    finally:
        gw.process.stop()


@pytest.mark.parametrize("destination", ["local", "s3"])
def test_periodic_pass_aborts_abandoned_uploads_only(request, s3, tmp_path, destination):
    gw = _sweeper(request, tmp_path, destination, _where(destination, tmp_path), interval=1)
    try:
        requests.put(f"{gw.api}/7/kept.txt", data=b"kept", timeout=30).raise_for_status()
        created = create(gw, "7/run/artifacts", "abandoned.bin", 2)
        put_part(created["credentials"][0], b"part one").raise_for_status()
        path = "7/run/artifacts/abandoned.bin"
        assert stored_parts(gw, s3, path, created["upload_id"]) == {1: 8}
        assert wait_until(lambda: stored_parts(gw, s3, path, created["upload_id"]) is None)
        assert stored_bytes(gw, s3, path) is None
        assert stored_bytes(gw, s3, "7/kept.txt") == b"kept"
        requests.delete(f"{gw.api}/7", timeout=30).raise_for_status()
    finally:
        gw.process.stop()
