"""Downloads from a plain-HTTP S3 (SeaweedFS) go socket to socket with `os.splice`: the same
bytes and HTTP semantics as the copying path, counted, and nothing left open when a client
walks away mid-file."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import time
import urllib.parse

import pytest
import requests

from gateway.config import S3Transfer
from gateway.mime import content_type
from gateway.stores.ranges import ByteRange
from gateway.stores.s3 import S3Options, S3Store
from gateway.stores.s3.socket_http import _parse, plain_http
from tests.helpers.metrics_text import delta, samples
from tests.helpers.stack import ADMIN, BUCKET, Gateway

MIB = 1024 * 1024
SIZE = 24 * MIB + 12345  # several pipe-fulls and a ragged end


def _body() -> bytes:
    block = os.urandom(MIB)
    return b"".join(block[i:] + block[:i] for i in range(SIZE // MIB + 1))[:SIZE]


def _store(seaweed, secret: str = ADMIN.secret_key) -> S3Store:
    options = S3Options(
        uri=f"s3://{BUCKET}/root",
        endpoint_url=seaweed.endpoint,
        region="us-east-1",
        access_key_id=ADMIN.access_key,
        secret_access_key=secret,
    )
    return S3Store(options, S3Transfer(), MIB)


@pytest.fixture(scope="module")
def stored(s3_gateway: Gateway) -> tuple[str, bytes]:
    body = _body()
    path = f"{s3_gateway.api}/splice/run/artifacts/big.bin"
    assert requests.put(path, data=body, timeout=120).status_code == 200
    return path, body


def _metrics(gateway: Gateway) -> dict:
    return samples(requests.get(f"{gateway.url}/metrics", timeout=30).text)


def test_whole_file_is_spliced_and_byte_identical(s3_gateway, stored):
    url, body = stored
    before = _metrics(s3_gateway)
    response = requests.get(url, timeout=120)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == SIZE
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()
    after = _metrics(s3_gateway)
    sent = delta(before, after, "gateway_downloaded_bytes_total", destination="default")
    spliced = delta(before, after, "gateway_spliced_bytes_total", destination="default")
    assert sent == SIZE
    assert 0 < spliced <= SIZE  # what came with the backend's headers went through aiohttp


def test_ranges_and_conditions_keep_their_semantics(s3_gateway, stored):
    url, body = stored
    part = requests.get(url, headers={"Range": f"bytes={MIB}-{3 * MIB + 6}"}, timeout=60)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes {MIB}-{3 * MIB + 6}/{SIZE}"
    assert part.content == body[MIB : 3 * MIB + 7]
    tail = requests.get(url, headers={"Range": "bytes=-100"}, timeout=60)
    assert tail.status_code == 206 and tail.content == body[-100:]
    etag = part.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=60).status_code == 304
    refused = requests.get(url, headers={"Range": f"bytes={SIZE + 10}-"}, timeout=60)
    assert refused.status_code == 416 and refused.headers["Content-Range"] == f"bytes */{SIZE}"
    missing = requests.get(url.replace("big.bin", "absent.bin"), timeout=60)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_client_leaving_mid_file_leaves_no_descriptor_behind(s3_gateway, stored):
    url, body = stored
    pid = s3_gateway.process.pid
    assert requests.get(url, headers={"Range": "bytes=0-9"}, timeout=60).content == body[:10]
    baseline = _open_fds(pid)
    parts = urllib.parse.urlsplit(url)
    for _ in range(5):
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
            client.sendall(request.encode())
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
        # closed with most of the file unread: the gateway's next write fails
    deadline = time.monotonic() + 30
    while _open_fds(pid) > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_fds(pid) <= baseline + 2, "pipes or sockets of abandoned downloads stayed open"
    again = requests.get(url, timeout=120)
    assert again.status_code == 200 and again.content == body


def test_the_socket_download_reads_the_same_bytes_without_splicing(seaweed, stored):
    """`SocketDownload.chunks()`, the copying path of the same object, straight from the store."""
    _, body = stored

    async def read(byte_range: ByteRange | None) -> bytes:
        store = _store(seaweed)
        await store.start()
        try:
            download = await store.open_socket("splice/run/artifacts/big.bin", byte_range)
            assert download is not None
            async with download:
                return b"".join([chunk async for chunk in download.chunks()])
        finally:
            await store.close()

    assert asyncio.run(read(None)) == body
    assert asyncio.run(read(ByteRange(5, 5 + 3 * MIB))) == body[5 : 5 + 3 * MIB]


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 10",
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "x"',
        b'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\nETag: "x"\r\n'
        b"Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT",
        b'HTTP/1.1 200 OK\r\nETag: "x"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT',
        b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: "x"\r\nLast-Modified: yesterday',
    ],
)
def test_anything_but_a_plain_sized_answer_takes_the_normal_path(head):
    with socket.socket() as sock:
        assert _parse(sock, head, b"", 60.0) is None


def test_only_plain_http_endpoints_without_a_proxy_qualify(monkeypatch):
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    assert plain_http("http://127.0.0.1:8333")
    assert not plain_http("https://s3.amazonaws.com")
    assert not plain_http(None)
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("no_proxy", "")
    assert not plain_http("http://minio.internal:9000")


TRICKY_KEYS = ["root/p/a b+c.txt", "root/p/ü~é%20.bin", "root/p/q?x=1&y#z", "root/p/'(*)!.txt"]


def test_the_signed_get_url_is_botocores_own_and_valid_for_every_key(seaweed, s3):
    """`presigned_get` signs what `generate_presigned_url` would (same path, same parameters but
    the date and signature), and SeaweedFS accepts it for keys that need quoting."""
    from gateway.stores.s3.presign import presigned_get

    async def urls() -> list[tuple[str, str]]:
        store = _store(seaweed)
        await store.start()
        try:
            client = store._client
            return [
                (
                    await presigned_get(client, seaweed.endpoint, BUCKET, key, "path"),
                    await client.generate_presigned_url(
                        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300
                    ),
                )
                for key in TRICKY_KEYS
            ]
        finally:
            await store.close()

    def unsigned(url: str) -> tuple[str, dict[str, str]]:
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        return parts.path, {
            k: v for k, v in query.items() if k not in ("X-Amz-Date", "X-Amz-Signature")
        }

    for key in TRICKY_KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    for key, (ours, botocores) in zip(TRICKY_KEYS, asyncio.run(urls()), strict=True):
        assert unsigned(ours) == unsigned(botocores), key
        resp = requests.get(ours, timeout=30)
        assert resp.status_code == 200 and resp.content == key.encode(), (key, resp.text[:300])


def test_a_small_put_goes_on_a_socket_of_its_own_and_refusals_take_botocores_path(seaweed, s3):
    """4 KiB is stored by the raw PUT (botocore's put_object is never called); with a wrong
    secret the raw PUT gets 403 and botocore's call does it again, which names the refusal."""
    from gateway.stores.errors import CredentialsRefused

    body = os.urandom(4096)

    async def put(store: S3Store, key: str) -> int:
        calls = 0
        await store.start()
        real = store._client.put_object

        async def counted(**kwargs):
            nonlocal calls
            calls += 1
            return await real(**kwargs)

        store._client.put_object = counted
        try:
            await store.write(key, _Reader(body), len(body))
        finally:
            await store.close()
        return calls

    assert asyncio.run(put(_store(seaweed), "raw/m.json")) == 0
    stored = s3.get_object(Bucket=BUCKET, Key="root/raw/m.json")
    assert stored["Body"].read() == body and stored["ContentType"] == content_type("m.json")
    with pytest.raises(CredentialsRefused):
        asyncio.run(put(_store(seaweed, "wrong-secret-value-0a9b8c7d"), "raw/n.json"))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="root/raw/n.json")


class _Reader:
    """An upload body as aiohttp's StreamReader offers it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    async def read(self, n: int = -1) -> bytes:
        return self._data.read(n)


def test_a_read_to_its_end_leaves_its_connection_for_the_next_and_a_dead_one_is_replaced(
    seaweed, s3
):
    """Keep-alive on the raw path: a GET read to its end and a small PUT give their socket
    back and the next request uses it; one read only partly is closed; a pooled socket that
    died meanwhile costs nothing but a fresh connection (the answer still arrives)."""
    s3.put_object(Bucket=BUCKET, Key="root/pool/a.bin", Body=b"a" * 4096)
    s3.put_object(Bucket=BUCKET, Key="root/pool/big.bin", Body=b"b" * (4 * MIB))

    async def run() -> tuple:
        store = _store(seaweed)
        await store.start()
        try:

            async def local_port(path: str, read: bool = True) -> tuple[int, bytes]:
                download = await store.open_socket(path, None)
                assert download is not None
                port = download.sock.getsockname()[1]
                data = b""
                async with download:
                    if read:
                        data = b"".join([c async for c in download.chunks()])
                return port, data

            first, _ = await local_port("pool/a.bin")
            second, _ = await local_port("pool/a.bin")
            partly, _ = await local_port("pool/big.bin", read=False)  # closed, not pooled
            after_partly, _ = await local_port("pool/a.bin")
            await store.write("pool/put.json", _Reader(b"{}"), 2)
            after_put, _ = await local_port("pool/a.bin")
            # a pooled socket the backend has closed: shut it down behind the pool's back
            from gateway.stores.s3 import socket_http

            for idle in socket_http._pool._idle.values():
                for _, sock in idle:
                    sock.shutdown(socket.SHUT_RDWR)
            replaced, data = await local_port("pool/a.bin")
            return first, second, partly, after_partly, after_put, replaced, data
        finally:
            await store.close()

    first, second, partly, after_partly, after_put, replaced, data = asyncio.run(run())
    assert second == first == partly  # given back, taken again
    assert after_partly != partly  # the partly read one was closed, not given back
    assert after_put == after_partly  # the PUT took it and gave it back
    assert replaced != after_put and data == b"a" * 4096


def test_a_head_on_the_raw_path_states_what_botocore_states(seaweed, s3):
    """`stat` asks HeadObject on a socket of its own (no botocore request pipeline): the same
    size, ETag, time and digest as botocore's answer, its socket pooled; a missing key still
    takes botocore's call, which reports it."""
    from gateway.stores.errors import NotFound
    from gateway.stores.s3 import socket_http

    s3.put_object(Bucket=BUCKET, Key="root/head/a.bin", Body=b"h" * 5000)

    async def run() -> tuple:
        store = _store(seaweed)
        await store.start()
        try:
            raw = await store._stat_socket("head/a.bin")
            via_stat = await store.stat("head/a.bin")
            pooled = sum(len(idle) for idle in socket_http._pool._idle.values())
            endpoint, store._raw_endpoint = store._raw_endpoint, None
            botocore = await store.stat("head/a.bin")
            store._raw_endpoint = endpoint
            with pytest.raises(NotFound):
                await store.stat("head/missing.bin")
            return raw, via_stat, botocore, pooled
        finally:
            await store.close()

    raw, via_stat, botocore, pooled = asyncio.run(run())
    assert raw is not None and raw == via_stat == botocore
    assert raw.size == 5000 and pooled >= 1


LISTED = ["a b.txt", "a+b.txt", "a%2Fb.txt", "ü-ñ.txt", "d/x", "d-e/y", "d.f", "e&f=g", "z"]


def test_a_listing_on_the_raw_path_lists_what_botocore_lists(seaweed, s3):
    """ListObjectsV2 on a socket of our own, parsed by `list_xml`: the same entries, sizes and
    order as botocore's paginator and parser, across pages (3 keys a page) and for keys that
    URL-encoding and XML must carry (spaces, '+', '%', non-ASCII, '&', '=')."""
    for i, name in enumerate(LISTED):
        s3.put_object(Bucket=BUCKET, Key=f"root/listed/{name}", Body=b"l" * i)

    async def run() -> tuple:
        store = _store(seaweed)
        await store.start()
        try:
            store._list_page = 3
            pages = [page async for page in store._listed("root/listed/")]
            raw = await store.list("listed")
            store._raw_endpoint = None  # botocore's paginator and parser
            return pages, raw, await store.list("listed")
        finally:
            await store.close()

    pages, raw, botocore = asyncio.run(run())
    assert len(pages) >= 3 and all(page.get("Contents") is not None for page in pages)
    assert raw == botocore
    assert [entry.name for entry in raw] == sorted({name.split("/")[0] for name in LISTED})
    assert {e.name: e.size for e in raw if not e.is_dir}["ü-ñ.txt"] == LISTED.index("ü-ñ.txt")
