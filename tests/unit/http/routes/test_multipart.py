"""gateway/http/routes/multipart.py: signing a create's part URLs lets other tasks run (review
finding 4: a 10,000-part `mpu/create` in direct mode held the event loop for seconds)."""

from __future__ import annotations

import asyncio

from gateway.config import load_settings
from gateway.http.routes.multipart import part_credentials
from gateway.http.routes.multipart_bodies import Part, ordered_parts
from gateway.stores import create_store, default_options

PARTS = 200


async def _ticks_while_signing(monkeypatch) -> tuple[int, list[dict]]:
    """How often another task ran while a real S3 store presigned PARTS part URLs (signing is
    local: no request leaves the process)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    settings = load_settings(["--artifacts-destination", "s3://bucket/p"])
    store = create_store(default_options(settings.artifacts_destination), settings)
    await store.start()
    ticks, done = 0, asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set() and ticks < 10 * PARTS:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = ticks
    try:
        credentials = await part_credentials(store, "1/x.bin", "up-1", PARTS, 300, str)
    finally:
        done.set()
        await task
        await store.close()
    return ticks - started, credentials


def test_presigning_many_parts_yields_to_other_tasks(monkeypatch):
    ran, credentials = asyncio.run(_ticks_while_signing(monkeypatch))
    assert [c["part_number"] for c in credentials] == list(range(1, PARTS + 1))
    assert all("X-Amz-Expires=300" in c["url"] for c in credentials)
    assert ran >= PARTS - 1  # another task ran between every two signatures


def test_gateway_links_are_used_where_the_store_does_not_presign():
    credentials = asyncio.run(part_credentials(None, "1/x.bin", "up-1", 3, 300, "link-{}".format))
    assert [c["url"] for c in credentials] == ["link-1", "link-2", "link-3"]


def test_parts_without_etags_only_where_the_store_holds_one_part_per_number():
    """Azure's Put Block (and fake-gcs-server's signed PUT) answer without an ETag: such a
    store takes the part stored under the number; every other store still asks for ETags."""
    import pytest

    from gateway.errors import InvalidParameter

    stored = [(1, '"a"'), (2, '"b"')]
    parts = [Part(part_number=1, etag=""), Part(part_number=2, etag='"b"')]
    assert ordered_parts(parts, stored, etag_optional=True) == [(1, '"a"'), (2, '"b"')]
    with pytest.raises(InvalidParameter, match="without an ETag"):
        ordered_parts(parts, stored)
    with pytest.raises(InvalidParameter, match="do not match"):
        ordered_parts([Part(part_number=1, etag='"z"'), parts[1]], stored, etag_optional=True)
    twice = [(1, '"a"'), (1, '"a2"'), (2, '"b"')]  # a store listing a part sent again
    with pytest.raises(InvalidParameter, match="without an ETag"):
        ordered_parts(parts, twice, etag_optional=True)
