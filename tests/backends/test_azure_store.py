"""The Azure store (gateway.stores.azure) against Azurite: MLflow's multipart on Put Block /
Put Block List, account-key SAS presigning, and the stock MLflow client's multipart upload
through a gateway (SHA-256 equal on both ends)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import pytest
import requests

from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.capabilities import MultipartUploads, StoragePresigning
from gateway.stores.digests import DigestMismatch, checked
from gateway.stores.errors import AlreadyExists, InvalidRequest, NotFound, UnknownUpload
from gateway.stores.write_once import WriteOnce
from tests.conformance.destinations import azure_destination
from tests.helpers.bodies import Bytes
from tests.helpers.store_calls import check_abort_forgets, parts_out_of_order, read_all, run

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


@pytest.fixture
def store(azurite, tmp_path: Path):
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    raw = azure_destination(azurite.authority, f"azure-{uuid.uuid4().hex[:8]}")
    return create_store(parse_options(raw), settings)


def test_multipart_is_invisible_until_complete_and_abort_forgets_it(store, azurite):
    assert isinstance(store, MultipartUploads) and isinstance(store, StoragePresigning)
    one, two = os.urandom(5 * MIB), os.urandom(3 * MIB + 7)

    async def scenario() -> None:
        upload, first, second = await parts_out_of_order(store, "m/big.bin", one, two)
        assert await store.list("m") == []  # nothing visible before the commit
        with pytest.raises(NotFound):
            await store.stat("m/big.bin")
        with pytest.raises(InvalidRequest):
            await store.complete_upload("m/big.bin", upload, [(1, second), (2, second)])
        await store.complete_upload("m/big.bin", upload, [(1, first), (2, second)])
        data = await read_all(store, "m/big.bin")
        assert hashlib.sha256(data).digest() == hashlib.sha256(one + two).digest()
        with pytest.raises(UnknownUpload):  # the commit discarded its marker
            await store.list_parts("m/big.bin", upload)

        await check_abort_forgets(store, "m/gone.bin", one)
        with pytest.raises(UnknownUpload):
            await store.list_parts("m/big.bin", uuid.uuid4().hex)
        assert [e.name for e in await store.list("m")] == ["big.bin"]
        await store.delete("m")
        assert await store.list("m") == []

    run(store, scenario)


def test_digests_in_blob_metadata_and_write_once_commits_conditionally(store):
    """Put Blob and Put Block List keep the SHA-256 as `x-ms-meta-sha256`, read back by
    Azurite's own Get Blob Properties; a wrong client digest stores nothing; write-once paths
    commit with If-None-Match: *, so of concurrent writers one wins."""
    small, large = os.urandom(1000), os.urandom(4 * MIB + 5)  # one Put Blob; two blocks
    store.write_once = WriteOnce(["frozen/"])

    async def scenario() -> None:
        for name, data in (("d/small.bin", small), ("d/large.bin", large)):
            await store.write(name, Bytes(data))
            props = await store.blob(name).get_blob_properties()
            assert props.metadata["sha256"] == hashlib.sha256(data).hexdigest()
            assert (await store.stat(name)).sha256 == hashlib.sha256(data).digest()
        wrong = checked(Bytes(small), {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
        with pytest.raises(DigestMismatch, match="Content-MD5"):
            await store.write("d/corrupt.bin", wrong)
        with pytest.raises(NotFound):
            await store.stat("d/corrupt.bin")

        for size in (1000, 4 * MIB + 5):
            bodies = [os.urandom(size) for _ in range(4)]
            path = f"frozen/{size}.bin"
            results = await asyncio.gather(
                *(store.write(path, Bytes(b)) for b in bodies), return_exceptions=True
            )
            assert sorted(type(r).__name__ for r in results) == ["AlreadyExists"] * 3 + [
                "NoneType"
            ], results
            winner = bodies[results.index(None)]
            assert await read_all(store, path) == winner
        upload = await store.create_upload("frozen/1000.bin")  # a client multipart, too
        part = await store.upload_part("frozen/1000.bin", upload, 1, Bytes(b"x"), 1)
        with pytest.raises(AlreadyExists):
            await store.complete_upload("frozen/1000.bin", upload, [(1, part)])
        await store.write("d/small.bin", Bytes(b"outside: overwritten as before"))
        await store.delete("d")
        store.write_once = WriteOnce()
        await store.delete("frozen")

    run(store, scenario)


def test_sas_urls_upload_download_and_put_blocks(store):
    data = os.urandom(2 * MIB + 3)

    async def scenario() -> None:
        put = await store.presign_upload("p/one.bin", 60)
        resp = requests.put(put, data=data, headers={"x-ms-blob-type": "BlockBlob"}, timeout=60)
        assert resp.status_code == 201, resp.text
        get = await store.presign_download("p/one.bin", 60)
        ranged = requests.get(get, headers={"Range": "bytes=10-19"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        blocked = requests.put(get, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=60)
        assert blocked.status_code == 403  # a read-only SAS

        upload = await store.create_upload("p/two.bin")  # a part: a SAS Put Block URL
        part = await store.presign_part("p/two.bin", upload, 1, 60)
        resp = requests.put(part, data=data, timeout=60)
        assert resp.status_code == 201 and "ETag" not in resp.headers  # hence parts_without_etags
        [(number, etag)] = await store.list_parts("p/two.bin", upload)
        assert number == 1 and store.parts_without_etags
        await store.complete_upload("p/two.bin", upload, [(1, etag)])
        assert await read_all(store, "p/two.bin") == data
        assert "AccountKey" not in put and "sig=" in put
        await store.delete("p")

    run(store, scenario)
