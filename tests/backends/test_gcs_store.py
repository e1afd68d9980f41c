"""The native GCS store (gateway.stores.gcs) against fake-gcs-server: writes with their SHA-256
kept in the object's metadata, MLflow's multipart on compose (a chain past 32 parts), V4
presigned URLs, and the stock MLflow client's multipart upload through a gateway (SHA-256
equal on both ends)."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.capabilities import MultipartUploads, StoragePresigning
from gateway.stores.errors import AlreadyExists, InvalidRequest, NotFound, UnknownUpload
from gateway.stores.gcs.compose import GcsPresigningStore, GcsStore
from gateway.stores.ranges import ByteRange
from gateway.stores.write_once import WriteOnce
from tests.conformance.destinations import gcs_destination
from tests.helpers.bodies import Bytes
from tests.helpers.gcs_keys import service_account_file
from tests.helpers.store_calls import check_abort_forgets, parts_out_of_order, read_all, run

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


async def stored(store) -> list[str]:
    """Every object under the store's prefix, behind the store's listing."""
    start = f"{store.prefix}/"
    return [
        item["name"][len(start) :]
        async for page in store.objects("", start)
        for item in page.get("items", [])
    ]


def make_store(fake_gcs, tmp_path: Path, **extra):
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    raw = gcs_destination(fake_gcs.url, f"gcs-{uuid.uuid4().hex[:8]}", **extra)
    return create_store(parse_options(raw), settings)


@pytest.fixture
def store(fake_gcs, tmp_path: Path):
    return make_store(fake_gcs, tmp_path)


def test_writes_keep_their_sha256_and_ranges_read_the_same_generation(store):
    assert type(store) is GcsStore  # no signing key: no presigning
    small, large = os.urandom(1000), os.urandom(9 * MIB + 1)

    async def scenario() -> None:
        for name, data in (("w/small.bin", small), ("w/large.bin", large)):
            await store.write(name, Bytes(data))
            stat = await store.stat(name)
            assert stat.size == len(data) and stat.sha256 == hashlib.sha256(data).digest()
            assert await read_all(store, name) == data
        assert await read_all(store, "w/large.bin", ByteRange(MIB, MIB + 10)) == large[MIB:][:10]
        assert [(e.name, e.is_dir) for e in await store.list("")] == [("w", True)]
        with pytest.raises(InvalidRequest):
            await store.write(".gateway-uploads/x", Bytes(b"x"))
        await store.delete("w")
        assert await store.list("") == []

    run(store, scenario)


def test_multipart_is_invisible_until_complete_and_abort_forgets_it(store):
    assert isinstance(store, MultipartUploads)
    one, two = os.urandom(5 * MIB), os.urandom(3 * MIB + 7)

    async def scenario() -> None:
        upload, first, second = await parts_out_of_order(store, "m/big.bin", one, two)
        assert await store.list("") == [] and await store.list("m") == []
        with pytest.raises(NotFound):
            await store.stat("m/big.bin")
        with pytest.raises(UnknownUpload):  # the upload belongs to another path
            await store.list_parts("m/other.bin", upload)
        with pytest.raises(InvalidRequest):
            await store.complete_upload("m/big.bin", upload, [(1, second), (2, second)])
        old = datetime.now(timezone.utc) + timedelta(minutes=1)
        assert [u.upload_id for u in await store.list_uploads(old)] == [upload]
        await store.complete_upload("m/big.bin", upload, [(1, first), (2, second)])
        assert await read_all(store, "m/big.bin") == one + two
        with pytest.raises(UnknownUpload):
            await store.list_parts("m/big.bin", upload)

        await check_abort_forgets(store, "m/gone.bin", one)
        assert await store.list_uploads(old) == []
        assert await stored(store) == ["m/big.bin"]  # no part, marker or chain link left
        await store.delete("")
        assert await stored(store) == []

    run(store, scenario)


def test_write_once_paths_are_not_overwritten(store):
    """GCS's own precondition (ifGenerationMatch=0) guards the commit; fake-gcs-server ignores
    it on uploads, so the check just before the commit is what this emulator shows."""
    store.write_once = WriteOnce(["models/"])

    async def scenario() -> None:
        await store.write("models/m.bin", Bytes(b"first"))
        with pytest.raises(AlreadyExists):
            await store.write("models/m.bin", Bytes(b"second"))
        upload = await store.create_upload("models/m.bin")
        etag = await store.upload_part("models/m.bin", upload, 1, Bytes(b"p"), 1)
        assert await store.upload_part("models/m.bin", upload, 1, Bytes(b"p"), 1) == etag
        with pytest.raises(AlreadyExists):
            await store.complete_upload("models/m.bin", upload, [(1, etag)])
        await store.abort_upload("models/m.bin", upload)
        assert await read_all(store, "models/m.bin") == b"first"
        await store.write("other/m.bin", Bytes(b"1"))
        await store.write("other/m.bin", Bytes(b"2"))  # not write-once
        await store.delete("")

    run(store, scenario)


def test_more_than_32_parts_compose_in_a_chain(store):
    parts = [os.urandom(1000 + n) for n in range(70)]

    async def scenario() -> None:
        upload = await store.create_upload("c/many.bin")
        etags = [
            (n, await store.upload_part("c/many.bin", upload, n, Bytes(p), len(p)))
            for n, p in enumerate(parts, start=1)
        ]
        await store.complete_upload("c/many.bin", upload, etags)
        assert await read_all(store, "c/many.bin") == b"".join(parts)
        assert await stored(store) == ["c/many.bin"]
        await store.delete("")

    run(store, scenario)


def test_v4_urls_download_upload_and_put_parts(fake_gcs, tmp_path):
    key = service_account_file(tmp_path)
    store = make_store(fake_gcs, tmp_path, signing_credentials_file=str(key))
    assert isinstance(store, GcsPresigningStore) and isinstance(store, StoragePresigning)
    data = os.urandom(2 * MIB + 3)

    async def scenario() -> None:
        await store.write("p/one.bin", Bytes(data))
        get = await store.presign_download("p/one.bin", 60)
        assert "X-Goog-Signature=" in get and "X-Goog-Expires=60&" in get
        ranged = requests.get(get, headers={"Range": "bytes=10-19"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        put = await store.presign_upload("p/two.bin", 10**9)
        assert "X-Goog-Expires=604800&" in put  # capped at 7 days
        assert requests.put(put, data=data[:10], timeout=60).status_code == 200
        assert await read_all(store, "p/two.bin") == data[:10]
        upload = await store.create_upload("p/three.bin")  # a part: a signed PUT of its object
        for number, piece in ((2, data[MIB:]), (1, data[:MIB])):
            part = await store.presign_part("p/three.bin", upload, number, 60)
            assert requests.put(part, data=piece, timeout=60).status_code == 200
        listed = await store.list_parts("p/three.bin", upload)
        md5s = [f'"{hashlib.md5(p).hexdigest()}"' for p in (data[:MIB], data[MIB:])]
        assert listed == [(1, md5s[0]), (2, md5s[1])]  # GCS's XML API answers these ETags
        await store.complete_upload("p/three.bin", upload, listed)
        assert await read_all(store, "p/three.bin") == data
        assert sorted(await stored(store)) == ["p/one.bin", "p/three.bin", "p/two.bin"]
        await store.delete("")

    run(store, scenario)
