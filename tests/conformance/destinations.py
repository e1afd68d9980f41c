"""The destinations the conformance suite runs against, by name.

Each entry of `BACKENDS` knows how to start a real gateway process on that destination and
how to look at what the backend holds behind the gateway's back (`Raw`), and, where the
backend has such a state, how to start a gateway whose destination cannot be reached.

To add a destination (GCS, Azure, a pyarrow-local one), write one `Backend` entry: a `start`
context manager yielding a `Destination` (a gateway plus a `Raw` view, e.g. `PyarrowRaw` over
the emulator's `pyarrow.fs` filesystem) and, if it can be unreachable, an `unreachable` one
(a gateway pointed at a closed port or a stopped emulator). Every test in tests/conformance/
then runs against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from tests.helpers.processes import ManagedProcess, free_port
from tests.helpers.stack import (
    ADMIN,
    BUCKET,
    Gateway,
    admin_client,
    clean_env,
    s3_env,
    start_gateway,
)

CHUNK = 1024 * 1024


class Raw(Protocol):
    """What the backend itself holds, read without the gateway."""

    def read(self, path: str) -> bytes | None:
        """The bytes stored for the artifact `path`, or None."""

    def sha256(self, path: str) -> str | None:
        """The SHA-256 of the stored bytes, streamed (for large files), or None."""

    def entries(self) -> set[str]:
        """Everything stored for this destination, as names relative to its root: files,
        directories and directory markers (ending in '/'), temp and staging objects, and
        pending multipart uploads ('<key> (multipart upload <id>)')."""


@dataclass
class Destination:
    name: str  # the key in BACKENDS
    gateway: Gateway
    raw: Raw
    uri: str  # the destination as configured, which error messages must name
    secrets: tuple[str, ...] = ()  # values that must never reach a client or a log


@dataclass
class Unreachable:
    process: ManagedProcess
    url: str
    uri: str
    secrets: tuple[str, ...] = ()

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow-artifacts/artifacts"


Starter = Callable[[pytest.FixtureRequest, Path], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class Backend:
    start: Starter  # -> Destination
    unreachable: Starter | None = None  # -> Unreachable
    no_unreachable: str = ""  # why there is none, shown as the skip reason
    # the streamed transfer's size; an emulator too slow for 512 MiB (fake-gcs-server's
    # uploads are quadratic) may name less, saying why in the entry
    large: int = 512 * 1024 * 1024


def _hash_chunks(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


# -- local ---------------------------------------------------------------------------------------


class LocalRaw:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, path: str) -> Path | None:
        file = self.root / path
        return file if file.is_file() else None

    def read(self, path: str) -> bytes | None:
        file = self._file(path)
        return file.read_bytes() if file else None

    def sha256(self, path: str) -> str | None:
        file = self._file(path)
        if file is None:
            return None
        with open(file, "rb") as f:
            return _hash_chunks(iter(lambda: f.read(CHUNK), b""))

    def entries(self) -> set[str]:
        found = set()
        for directory, dirs, files in os.walk(self.root):
            rel = os.path.relpath(directory, self.root)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            found.update(f"{prefix}{d}/" for d in dirs)
            found.update(f"{prefix}{f}" for f in files)
        return found


@contextlib.contextmanager
def start_local(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    root = workdir / "mlartifacts"
    process, url = start_gateway(
        workdir, ["--artifacts-destination", str(root), "--log-level", "info"], clean_env()
    )
    try:
        yield Destination(
            "local", Gateway(process, url, "local", root=root), LocalRaw(root), str(root)
        )
    finally:
        process.stop()


# -- s3 (SeaweedFS) ------------------------------------------------------------------------------

S3_PREFIX = "conformance"


class S3Raw:
    def __init__(self, client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}"

    def _body(self, path: str):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
        except self.client.exceptions.NoSuchKey:
            return None

    def read(self, path: str) -> bytes | None:
        body = self._body(path)
        return body.read() if body is not None else None

    def sha256(self, path: str) -> str | None:
        body = self._body(path)
        return _hash_chunks(body.iter_chunks(CHUNK)) if body is not None else None

    def entries(self) -> set[str]:
        found = set()
        start = f"{self.prefix}/"
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start, PaginationConfig={"MaxItems": 100_000}
        ):
            found.update(obj["Key"][len(start) :] for obj in page.get("Contents", []))
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=start)
        found.update(
            f"{u['Key'][len(start) :]} (multipart upload {u['UploadId']})"
            for u in uploads.get("Uploads", [])
        )
        return found


@contextlib.contextmanager
def start_s3(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    seaweed = request.getfixturevalue("seaweed")
    uri = f"s3://{BUCKET}/{S3_PREFIX}"
    env = clean_env(**s3_env(seaweed.endpoint))
    process, url = start_gateway(
        workdir, ["--artifacts-destination", uri, "--log-level", "info"], env
    )
    try:
        gateway = Gateway(process, url, "s3", prefix=S3_PREFIX)
        raw = S3Raw(admin_client(seaweed.endpoint), BUCKET, S3_PREFIX)
        yield Destination("s3", gateway, raw, uri, (ADMIN.secret_key, ADMIN.access_key))
    finally:
        process.stop()


@contextlib.contextmanager
def unreachable_s3(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Unreachable]:
    """Nothing listens on the endpoint's port (bound once, then released)."""
    uri = f"s3://{BUCKET}/{S3_PREFIX}"
    env = clean_env(**s3_env(f"http://127.0.0.1:{free_port()}"))
    args = ["--artifacts-destination", uri, "--s3.connect-timeout", "2", "--log-level", "info"]
    process, url = start_gateway(workdir, args, env, name="unreachable")
    try:
        yield Unreachable(process, url, uri, (ADMIN.secret_key, ADMIN.access_key))
    finally:
        process.stop()


@contextlib.contextmanager
def unreachable_on(
    workdir: Path, destination: dict, secrets: tuple[str, ...] = ()
) -> Iterator[Unreachable]:
    """A gateway on a configured `destination` whose port nothing listens on."""
    process, url = start_configured(workdir, destination, name="unreachable")
    try:
        yield Unreachable(process, url, destination["uri"], secrets)
    finally:
        process.stop()


# -- pyarrow.fs backends (GCS, Azure, pyarrow-local): the raw view for their entries ------------


class PyarrowRaw:
    """What a `pyarrow.fs` filesystem holds under `base` (e.g. `bucket/prefix`)."""

    def __init__(self, fs, base: str) -> None:
        self.fs = fs
        self.base = base.rstrip("/")

    def _open(self, path: str):
        try:
            return self.fs.open_input_stream(f"{self.base}/{path}")
        except FileNotFoundError:
            return None

    def read(self, path: str) -> bytes | None:
        stream = self._open(path)
        if stream is None:
            return None
        with stream:
            return stream.read()

    def sha256(self, path: str) -> str | None:
        stream = self._open(path)
        if stream is None:
            return None
        with stream:
            return _hash_chunks(iter(lambda: stream.read(CHUNK), b""))

    def entries(self) -> set[str]:
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.base, recursive=True, allow_not_found=True)
        found = set()
        for info in self.fs.get_file_info(selector):
            name = info.path[len(self.base) + 1 :]
            found.add(f"{name}/" if info.type == pafs.FileType.Directory else name)
        return found


REPO = Path(__file__).resolve().parents[2]


def start_configured(
    workdir: Path, destination: dict, name: str = "gateway", module: str = "gateway", **env: str
) -> tuple[ManagedProcess, str]:
    """A gateway whose default is the named destination `dest`, configured as YAML."""
    config = workdir / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump({"destinations": {"dest": destination}, "default_destination": "dest"})
    )
    args = ["--config", str(config), "--log-level", "info"]
    return start_gateway(workdir, args, clean_env(**env), name=name, module=module)


@contextlib.contextmanager
def _arrow_destination(
    kind: str,
    workdir: Path,
    destination: dict,
    fs,
    base: str,
    secrets: tuple[str, ...] = (),
    module: str = "gateway",
    **env: str,
) -> Iterator[Destination]:
    process, url = start_configured(workdir, destination, module=module, **env)
    try:
        gateway = Gateway(process, url, kind)
        yield Destination(kind, gateway, PyarrowRaw(fs, base), destination["uri"], secrets)
    finally:
        process.stop()
        fs.delete_dir_contents(base, missing_dir_ok=True)


def gcs_destination(endpoint: str, prefix: str, **extra: object) -> dict:
    from tests.backends.fixtures import GCS_BUCKET
    from tests.backends.gcs import PROJECT

    return {
        "uri": f"gs://{GCS_BUCKET}/{prefix}",
        "anonymous": True,
        "project": PROJECT,
        "endpoint_url": endpoint,
        **extra,
    }


@contextlib.contextmanager
def start_gcs(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    from tests.backends.fixtures import GCS_BUCKET

    server = request.getfixturevalue("fake_gcs")
    destination = gcs_destination(server.url, "conformance")
    with _arrow_destination(
        "gcs", workdir, destination, server.filesystem(), f"{GCS_BUCKET}/conformance"
    ) as dest:
        yield dest


@contextlib.contextmanager
def unreachable_gcs(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Unreachable]:
    destination = gcs_destination(
        f"http://127.0.0.1:{free_port()}", "conformance", retry_time_limit=2
    )
    with unreachable_on(workdir, destination) as unreachable:
        yield unreachable


def azure_destination(authority: str, prefix: str, key: str | None = None, **extra: object) -> dict:
    """`wasbs://` on Azurite's account, path-style through `endpoint_url`."""
    from tests.backends.azurite import ACCOUNT, ACCOUNT_KEY
    from tests.backends.fixtures import AZURE_CONTAINER

    return {
        "uri": f"wasbs://{AZURE_CONTAINER}@{ACCOUNT}.blob.core.windows.net/{prefix}",
        "account_key": key or ACCOUNT_KEY,
        "endpoint_url": f"http://{authority}/{ACCOUNT}",
        **extra,
    }


@contextlib.contextmanager
def start_azure(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    from tests.backends.azurite import ACCOUNT_KEY
    from tests.backends.fixtures import AZURE_CONTAINER

    server = request.getfixturevalue("azurite")
    destination = azure_destination(server.authority, "conformance")
    base = f"{AZURE_CONTAINER}/conformance"
    with _arrow_destination(
        "azure", workdir, destination, server.filesystem(), base, (ACCOUNT_KEY,)
    ) as dest:
        yield dest


@contextlib.contextmanager
def unreachable_azure(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Unreachable]:
    from tests.backends.azurite import ACCOUNT_KEY

    destination = azure_destination(f"127.0.0.1:{free_port()}", "conformance", retries=0)
    with unreachable_on(workdir, destination, (ACCOUNT_KEY,)) as unreachable:
        yield unreachable


@contextlib.contextmanager
def start_pyarrow_local(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    from pyarrow import fs

    root = workdir / "mlartifacts"
    root.mkdir()
    destination = {"uri": f"arrow-local://{root}"}
    with _arrow_destination(
        "pyarrow-local",
        workdir,
        destination,
        fs.LocalFileSystem(),
        str(root),
        module="tests.conformance.arrow_local",
        PYTHONPATH=str(REPO),
    ) as dest:
        yield dest


def _elsewhere(module: str, name: str) -> Starter:
    """A starter defined in a module that imports this one (tests/conformance/remote.py)."""

    def start(request: pytest.FixtureRequest, workdir: Path) -> contextlib.AbstractContextManager:
        return getattr(importlib.import_module(module), name)(request, workdir)

    return start


# -- the registry --------------------------------------------------------------------------------

BACKENDS: dict[str, Backend] = {
    "local": Backend(
        start=start_local,
        no_unreachable=(
            "a local destination has no unreachable state: the gateway runs as root here, so "
            "no permission makes its directory unreadable, and a missing or non-directory root "
            "is a start-up error, not a 503"
        ),
    ),
    "s3": Backend(start=start_s3, unreachable=unreachable_s3),
    # the native store (gateway.stores.gcs) uploads in one request, not fake-gcs-server's
    # quadratic resumable uploads (FINDINGS.md); the emulator holds every object in memory.
    "gcs": Backend(start=start_gcs, unreachable=unreachable_gcs, large=128 * 1024 * 1024),
    "azure": Backend(start=start_azure, unreachable=unreachable_azure, large=256 * 1024 * 1024),
    "pyarrow-local": Backend(
        start=start_pyarrow_local,
        no_unreachable="a local directory has no unreachable state (see local)",
    ),
    # Real servers started by the session (tests/helpers/remote_servers.py). 256 MiB, as
    # Azure: over the RSS limit if it were buffered, and half the time of 512 MiB (SSH's
    # encryption on both ends shares two cores: 512 MiB took 25-36 s, docs/backends.md).
    "sftp": Backend(
        start=_elsewhere("tests.conformance.remote", "start_sftp"),
        unreachable=_elsewhere("tests.conformance.remote", "unreachable_sftp"),
        large=256 * 1024 * 1024,
    ),
    "ftp": Backend(
        start=_elsewhere("tests.conformance.remote", "start_ftp"),
        unreachable=_elsewhere("tests.conformance.remote", "unreachable_ftp"),
        large=256 * 1024 * 1024,
    ),
}
