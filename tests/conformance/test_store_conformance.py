"""What every destination must do, checked through the gateway's HTTP API and, behind its back,
in the backend itself (`destination.raw`). Runs once per entry of `destinations.BACKENDS`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator

import psutil
import pytest
import requests

from gateway.stores.digests import repr_digest
from tests.conformance.destinations import BACKENDS, Destination
from tests.helpers.memory import body
from tests.helpers.processes import wait_until
from tests.helpers.storage import every_kind_of_call

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
TIMEOUT = 60
# part_size (8 MiB) x (concurrency 3 + 1) plus the interpreter, aiohttp and the backend client;
# a gateway that buffered the body would need well over 512 MiB.
RSS_LIMIT_MIB = 320


@pytest.fixture
def exp() -> str:
    return str(uuid.uuid4().int % 10**9)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def url(dest: Destination, path: str) -> str:
    return f"{dest.gateway.api}/{urllib.parse.quote(path, safe='/')}"


def put(http: requests.Session, dest: Destination, path: str, data) -> requests.Response:
    resp = http.put(url(dest, path), data=data, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    return resp


def listing(http: requests.Session, dest: Destination, path: str) -> dict:
    resp = http.get(dest.gateway.api, params={"path": path}, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


def under(entries: set[str], path: str) -> set[str]:
    return {e for e in entries if e == path or e.startswith(path.rstrip("/") + "/")}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [1, 1000, MIB + 3, 9 * MIB + 1], ids=["1B", "1000B", "1MiB+3", "9MiB+1"]
)
def test_round_trip_has_equal_sha256_on_both_ends(destination, http, exp, size):
    data = os.urandom(size)
    path = f"{exp}/run/artifacts/model-{size}.bin"
    put(http, destination, path, data)
    got = http.get(url(destination, path), timeout=TIMEOUT)
    assert got.status_code == 200
    assert got.headers["Content-Length"] == str(size)
    assert sha256(got.content) == sha256(data)
    assert destination.raw.sha256(path) == sha256(data)
    # Every destination keeps the digest of what the gateway stored (docs/integrity.md).
    wanted = repr_digest(hashlib.sha256(data).digest())
    assert got.headers.get("Repr-Digest") == wanted
    ranged = http.get(url(destination, path), headers={"Range": "bytes=0-0"}, timeout=TIMEOUT)
    assert ranged.status_code == 206 and ranged.headers.get("Repr-Digest") == wanted


def test_empty_file(destination, http, exp):
    path = f"{exp}/run/artifacts/empty.txt"
    put(http, destination, path, b"")
    got = http.get(url(destination, path), timeout=TIMEOUT)
    assert (got.status_code, got.content, got.headers["Content-Length"]) == (200, b"", "0")
    head = http.head(url(destination, path), timeout=TIMEOUT)
    assert (head.status_code, head.headers["Content-Length"]) == (200, "0")
    assert listing(http, destination, f"{exp}/run/artifacts") == {
        "files": [{"path": "empty.txt", "is_dir": False, "file_size": 0}]
    }
    assert destination.raw.read(path) == b""
    # Ranges of an empty file cannot be satisfied.
    ranged = http.get(url(destination, path), headers={"Range": "bytes=0-"}, timeout=TIMEOUT)
    assert ranged.status_code == 416
    assert ranged.headers["Content-Range"] == "bytes */0"


def test_unicode_names(destination, http, exp):
    path = f"{exp}/données/模型 ü.txt"
    data = "ü → 模型".encode()
    put(http, destination, path, data)
    assert http.get(url(destination, path), timeout=TIMEOUT).content == data
    assert listing(http, destination, exp) == {"files": [{"path": "données", "is_dir": True}]}
    assert listing(http, destination, f"{exp}/données") == {
        "files": [{"path": "模型 ü.txt", "is_dir": False, "file_size": len(data)}]
    }
    assert destination.raw.read(path) == data


# -- listing -------------------------------------------------------------------------------------


def test_nested_listing_has_mlflow_shape(destination, http, exp):
    files = {
        "run/artifacts/b.txt": b"bb",
        "run/artifacts/a.bin": b"a",
        "run/artifacts/B-upper.txt": b"B",
        "run/artifacts/model/MLmodel": b"flavors: {}\n",
        "run/artifacts/model/data/weights.bin": b"w" * 4096,
        "run/artifacts/deep/er/still/x.txt": b"x",
    }
    for path, data in files.items():
        put(http, destination, f"{exp}/{path}", data)
    top = listing(http, destination, f"{exp}/run/artifacts")
    assert top == {
        "files": [
            {"path": "B-upper.txt", "is_dir": False, "file_size": 1},
            {"path": "a.bin", "is_dir": False, "file_size": 1},
            {"path": "b.txt", "is_dir": False, "file_size": 2},
            {"path": "deep", "is_dir": True},
            {"path": "model", "is_dir": True},
        ]
    }
    assert [e["path"] for e in top["files"]] == sorted(e["path"] for e in top["files"])
    # Names are relative to the listed directory, whatever its depth; a trailing slash is the same.
    for listed in (f"{exp}/run/artifacts/model", f"{exp}/run/artifacts/model/"):
        assert listing(http, destination, listed) == {
            "files": [
                {"path": "MLmodel", "is_dir": False, "file_size": 12},
                {"path": "data", "is_dir": True},
            ]
        }
    assert listing(http, destination, f"{exp}/run/artifacts/deep/er") == {
        "files": [{"path": "still", "is_dir": True}]
    }
    assert listing(http, destination, exp) == {"files": [{"path": "run", "is_dir": True}]}
    # Empty: a missing directory, a file's own path, an empty experiment.
    for empty in (f"{exp}/missing", f"{exp}/run/artifacts/b.txt", f"{exp}/run/artifacts/b"):
        assert listing(http, destination, empty) == {}
    root = http.get(destination.gateway.api, timeout=TIMEOUT).json()["files"]
    assert {"path": exp, "is_dir": True} in root


# -- ranges and HEAD -----------------------------------------------------------------------------


def test_ranges_and_head(destination, http, exp):
    data = os.urandom(3 * MIB + 5)
    size = len(data)
    path = f"{exp}/ranges.bin"
    put(http, destination, path, data)
    cases = [  # several across the 1 MiB chunk boundaries
        ("bytes=0-0", 0, 0),
        ("bytes=1048570-2097160", 1048570, 2097160),
        (f"bytes={size - 10}-", size - 10, size - 1),
        ("bytes=-7", size - 7, size - 1),
        (f"bytes=5-{size + 1000}", 5, size - 1),
    ]
    for header, first, last in cases:
        resp = http.get(url(destination, path), headers={"Range": header}, timeout=TIMEOUT)
        assert resp.status_code == 206, (header, resp.text)
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert resp.headers["Content-Length"] == str(last - first + 1)
        assert resp.content == data[first : last + 1], header
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}"):
        resp = http.get(url(destination, path), headers={"Range": header}, timeout=TIMEOUT)
        assert resp.status_code == 416, header
        assert resp.headers["Content-Range"] == f"bytes */{size}"
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    head = http.head(url(destination, path), timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(size)
    assert head.content == b""
    missing = http.head(url(destination, f"{exp}/nothing.bin"), timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.content == b""


# -- atomicity under client disconnect -------------------------------------------------------------


def send_then_drop(dest: Destination, path: str, declared: int, sent: int, chunked: bool) -> None:
    """Headers and `sent` body bytes on a raw socket, then close without finishing."""
    parsed = urllib.parse.urlsplit(dest.gateway.url)
    target = urllib.parse.urlsplit(url(dest, path)).path
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}"
    head = f"PUT {target} HTTP/1.1\r\nHost: {parsed.netloc}\r\n{framing}\r\n\r\n"
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(head.encode())
        block = os.urandom(64 * 1024)
        remaining = sent
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            remaining -= len(piece)
        time.sleep(0.5)  # let the gateway hand what it has to the backend before we vanish


@pytest.mark.parametrize(
    ("sent", "chunked"),
    [
        (0, False),
        (1000, False),
        (5 * MIB + 17, False),
        (8 * MIB, False),
        (20 * MIB + 1, False),
        (0, True),
        (20 * MIB + 1, True),
    ],
    ids=[
        "headers-only",
        "1000B",
        "inside-first-part",
        "at-part-boundary",
        "third-part",
        "chunked-headers-only",
        "chunked-third-part",
    ],
)
def test_client_disconnect_leaves_nothing(destination, http, exp, sent, chunked):
    path = f"{exp}/run/artifacts/dropped-{uuid.uuid4().hex[:8]}.bin"
    before = destination.raw.entries()
    log_mark = len(destination.gateway.process.log_text())
    send_then_drop(destination, path, declared=64 * MIB, sent=sent, chunked=chunked)
    # The gateway has finished with the request once its log names it (the access line or the
    # "body ended early" line); cleanup of parts and temp files happens before that.
    name = path.rsplit("/", 1)[1]
    assert wait_until(lambda: name in destination.gateway.process.log_text()[log_mark:], 60), (
        "the gateway never logged the dropped request"
    )
    assert wait_until(lambda: destination.raw.entries() == before), (
        destination.raw.entries() - before
    )
    assert destination.raw.read(path) is None
    assert http.get(url(destination, path), timeout=TIMEOUT).status_code == 404
    assert listing(http, destination, f"{exp}/run/artifacts") == {}
    assert listing(http, destination, exp) == {}
    assert http.get(f"{destination.gateway.url}/health", timeout=TIMEOUT).text == "OK"
    put(http, destination, path, b"after")
    assert http.get(url(destination, path), timeout=TIMEOUT).content == b"after"


# -- delete --------------------------------------------------------------------------------------


def test_delete_of_a_tree(destination, http, exp):
    tree = {
        "r/artifacts/keep.txt": b"keep",
        "r/artifacts/gone/a.txt": b"a",
        "r/artifacts/gone/x/y/b.txt": b"b",
        "r/artifacts/gone/x/z/c.bin": os.urandom(9 * MIB + 1),
        "r/artifacts/gone-sibling.txt": b"not under gone/",
    }
    for path, data in tree.items():
        put(http, destination, f"{exp}/{path}", data)
    gone = f"{exp}/r/artifacts/gone"
    assert under(destination.raw.entries(), gone)
    resp = http.delete(url(destination, gone), timeout=TIMEOUT)
    assert (resp.status_code, resp.json()) == (200, {})
    assert listing(http, destination, f"{exp}/r/artifacts") == {
        "files": [
            {"path": "gone-sibling.txt", "is_dir": False, "file_size": 15},
            {"path": "keep.txt", "is_dir": False, "file_size": 4},
        ]
    }
    assert listing(http, destination, gone) == {}
    assert listing(http, destination, f"{gone}/x") == {}
    assert under(destination.raw.entries(), gone) == set()
    assert destination.raw.read(f"{exp}/r/artifacts/keep.txt") == b"keep"
    assert http.get(url(destination, f"{gone}/a.txt"), timeout=TIMEOUT).status_code == 404
    # The whole experiment: nothing of it is left, not even an empty directory or a marker.
    assert http.delete(url(destination, exp), timeout=TIMEOUT).status_code == 200
    assert under(destination.raw.entries(), exp) == set()
    assert listing(http, destination, exp) == {}
    root = http.get(destination.gateway.api, timeout=TIMEOUT).json().get("files", [])
    assert all(entry["path"] != exp for entry in root)


# -- a large streamed transfer in bounded memory ---------------------------------------------------


class TreeRss:
    """Samples the resident memory of a process and its children while a transfer runs."""

    def __init__(self, pid: int, interval: float = 0.05, max_seconds: float = 900) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.max_samples = int(max_seconds / interval)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = 0
        for proc in (self.root, *self.root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        for _ in range(self.max_samples):
            self.peak = max(self.peak, self.sample())
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.peak = max(self.peak, self.sample())


@pytest.mark.perf  # peak RSS under RSS_LIMIT_MIB, set from measurements
def test_large_streamed_transfer_in_bounded_memory(destination, http, exp, measurements):
    large = BACKENDS[destination.name].large
    path = f"{exp}/run/artifacts/large.bin"
    sent = hashlib.sha256()
    with TreeRss(destination.gateway.process.pid) as upload_rss:
        resp = requests.put(url(destination, path), data=body(large, sent), timeout=600)
    assert resp.status_code == 200, resp.text

    received = hashlib.sha256()
    size = 0
    with (
        TreeRss(destination.gateway.process.pid) as download_rss,
        requests.get(url(destination, path), stream=True, timeout=600) as download,
    ):
        assert download.status_code == 200
        assert int(download.headers["Content-Length"]) == large
        for chunk in download.iter_content(4 * MIB):
            received.update(chunk)
            size += len(chunk)
    assert size == large
    assert received.hexdigest() == sent.hexdigest()
    assert destination.raw.sha256(path) == sent.hexdigest()

    up, down = upload_rss.peak / MIB, download_rss.peak / MIB
    measurements.append(
        f"conformance {destination.name}: gateway tree peak RSS, {large // MIB} MiB "
        f"upload {up:.0f} MiB, download {down:.0f} MiB"
    )
    assert up < RSS_LIMIT_MIB, f"peak RSS {up:.0f} MiB during the upload: it was buffered"
    assert down < RSS_LIMIT_MIB, f"peak RSS {down:.0f} MiB during the download: it was buffered"
    assert http.delete(url(destination, exp), timeout=120).status_code == 200


# -- an unreachable backend ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_unreachable_backend_answers_503_naming_it_without_keys(name, request, tmp_path):
    backend = BACKENDS[name]
    if backend.unreachable is None:
        pytest.skip(f"{name}: {backend.no_unreachable}")
    with backend.unreachable(request, tmp_path) as gw:
        for (method, target, _), resp in every_kind_of_call(gw.api):
            assert resp.status_code == 503, (method, target, resp.text)
            for secret in gw.secrets:
                assert secret not in resp.text and secret not in str(resp.headers)
            if method == "HEAD":
                continue
            assert resp.headers["Content-Type"].startswith("application/json")
            body_json = resp.json()
            assert body_json["error_code"] == "TEMPORARILY_UNAVAILABLE", body_json
            assert gw.uri in body_json["message"], body_json
        log = gw.process.log_text()
        for secret in gw.secrets:
            assert secret not in log
        assert "Traceback" not in log
