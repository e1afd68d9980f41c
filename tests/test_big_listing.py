"""A directory of thousands of entries listed through the gateway on SeaweedFS: every entry, in
MLflow's shape and order, across ListObjectsV2 pages; and the gateway's memory stays bounded
while it streams a much bigger one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests

from tests.helpers.memory import peak_rss_mib, vm_rss_mib
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import Gateway, admin_client, own_s3_gateway

MIB = 1024 * 1024
TIMEOUT = 300
# Their own bucket: the 53,000 objects here made every later whole-bucket listing in the
# suite (the traversal and routing checks) take seconds.
LISTING_BUCKET = "big-listing"


def filer_put(seaweed: SeaweedS3, keys: list[str]) -> None:
    """Objects straight into the bucket through the filer, 32 at once from one event loop:
    far faster than signed PUTs, and six times faster than 16 threads of `requests`."""

    async def put_all() -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        limit = asyncio.Semaphore(32)
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def put(i: int, key: str) -> None:
                url = f"http://127.0.0.1:{seaweed.filer_port}/buckets/{LISTING_BUCKET}/{key}"
                async with limit, session.put(url, data=b"x" * (i % 5 + 1)) as resp:
                    assert resp.status < 300, await resp.text()

            await asyncio.gather(*(put(i, key) for i, key in enumerate(keys)))

    asyncio.run(put_all())


def expected_files(names: list[str]) -> list[dict]:
    """MLflow's FileInfo rows computed independently: `a/...` is the directory `a`, sizes as
    `filer_put` wrote them, sorted by name."""
    rows: dict[str, dict] = {}
    for i, name in enumerate(names):
        if "/" in name:
            top = name.split("/", 1)[0]
            rows[top] = {"path": top, "is_dir": True}
        else:
            rows.setdefault(name, {"path": name, "is_dir": False, "file_size": i % 5 + 1})
    return [rows[name] for name in sorted(rows)]


def tricky_names(files: int) -> list[str]:
    """Names where S3's key order and name order differ, spread over several pages: the
    directory `m/` sorts after every `m-*` and `m.*` key, but `m` sorts before them."""
    names = [f"m-{i:05d}.txt" for i in range(files // 2)]
    names += [f"m.{i:05d}" for i in range(files // 2, files)]
    names += ["m/inner.txt", "m/deeper/x.txt", "a-b", "a.b", "a/c", "z z", "z/y", "é.txt"]
    return names


@pytest.mark.slow
def test_a_directory_of_thousands_lists_every_entry_in_mlflow_order(
    listing_gateway, seaweed, http, exp
):
    names = tricky_names(3000)
    filer_put(seaweed, [listing_gateway.key(f"{exp}/big/{name}") for name in names])
    resp = http.get(listing_gateway.api, params={"path": f"{exp}/big"}, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["files"]
    assert body["files"] == expected_files(names)
    assert len(body["files"]) == 3000 + 7  # the m-/m. files, 4 more files, directories m, a, z


@pytest.fixture(scope="module")
def listing_gateway(
    seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """Its own gateway, so the peak RSS read is this test's alone, on its own bucket."""
    admin_client(seaweed.endpoint).create_bucket(Bucket=LISTING_BUCKET)
    workdir = tmp_path_factory.mktemp("listing-gateway")
    with own_s3_gateway(seaweed, workdir, "listing", LISTING_BUCKET) as gw:
        yield gw


ENTRIES = 30_000
# Measured at 30,000 entries: the listing built whole took the gateway 16 MiB above idle (75 ->
# 91 MiB), about 0.55 KiB an entry; streamed, pages of 1,000 come and go (+1 to +4 MiB). The
# bound sits between the two. (50,000 entries said the same and took 25 s more to create.)
LISTING_MARGIN_MIB = 8


@pytest.mark.slow
@pytest.mark.perf  # an RSS bound a few MiB over idle, measured on this machine
def test_listing_a_huge_directory_keeps_memory_bounded(listing_gateway, seaweed, exp, measurements):
    names = [f"f{i:06d}.bin" for i in range(ENTRIES)]
    filer_put(seaweed, [listing_gateway.key(f"{exp}/huge/{name}") for name in names])
    api = listing_gateway.api
    assert requests.get(api, params={"path": f"{exp}/huge/none"}, timeout=60).json() == {}
    pid = listing_gateway.process.pid
    idle = vm_rss_mib(pid)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    resp = requests.get(api, params={"path": f"{exp}/huge"}, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert [row["path"] for row in resp.json()["files"]] == names
    peak = peak_rss_mib(pid)
    measurements.append(f"listing {ENTRIES:,} entries: idle {idle:.0f} MiB, peak {peak:.0f} MiB")
    assert peak <= idle + LISTING_MARGIN_MIB, f"idle {idle:.0f} MiB, peak {peak:.0f} MiB"


def _pages(keys: list[str], per_page: int) -> list[dict]:
    """ListObjectsV2 pages, Delimiter='/', as S3 cuts them: keys and prefixes in byte order."""
    seen: dict[str, dict] = {}
    for key in sorted(keys):
        head, slash, _ = key.partition("/")
        item = {"Prefix": head + "/"} if slash else {"Key": key, "Size": len(key)}
        seen.setdefault(head + slash, item)
    items = [seen[k] for k in sorted(seen)]
    return [
        {
            "Contents": [i for i in items[n : n + per_page] if "Key" in i],
            "CommonPrefixes": [i for i in items[n : n + per_page] if "Prefix" in i],
        }
        for n in range(0, len(items), per_page)
    ]


@pytest.mark.parametrize("per_page", [1, 2, 3, 1000])
def test_ordered_entries_sorts_by_name_across_pages_and_directories_win(per_page):
    import asyncio

    from gateway.stores.s3.listing import ordered_entries

    keys = ["d", "d-1", "d.2", "d/x", "d!/y", "e", "c/z", "c.", "cc", "m/", "é"]

    async def collect() -> list[list]:
        async def pages():
            for page in _pages(keys, per_page):
                yield page

        return [batch async for batch in ordered_entries(pages(), "")]

    batches = asyncio.run(collect())
    got = [(e.name, e.is_dir) for batch in batches for e in batch]
    names = ["c", "c.", "cc", "d", "d!", "d-1", "d.2", "e", "m", "é"]
    dirs = {"c", "d", "d!", "m"}
    assert got == [(name, name in dirs) for name in names]
    if per_page == 1:
        assert max(len(batch) for batch in batches) < len(names)  # streamed, not held whole
