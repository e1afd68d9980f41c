"""The gateway against each cloud's own SDK on the same emulator: google-cloud-storage on
fake-gcs-server, azure-storage-blob on Azurite, each with its defaults, straight to the
emulator. Wall time of one streamed upload and one download, MiB/s median (min-max) of
`--reps`, interleaved so drift hits both alike; the ratio is gateway / SDK.

`python -m tests.benchmarks.sdk_emulators [--size MiB] [--reps N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.backends.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.backends.gcs import PROJECT, FakeGcs
from tests.benchmarks.arrow_emulators import _blocks, _cell, _gateway, _timed, emulator_gateway

MIB = 1024 * 1024


class _Stream(io.RawIOBase):
    """`size` bytes in 1 MiB blocks, as a file object the SDKs read from (never held whole)."""

    def __init__(self, size: int) -> None:
        self._blocks = _blocks(size)
        self._left = b""
        self._at = 0

    def tell(self) -> int:  # google-cloud-storage asks where a resumable upload starts
        return self._at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._left:
            self._left = next(self._blocks, b"")
        n = min(len(buffer), len(self._left))
        buffer[:n], self._left = self._left[:n], self._left[n:]
        self._at += n
        return n


class _Sink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def _gcs_sdk(server: FakeGcs) -> Callable[[str, int], tuple[float, float]]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": server.url},
    )
    bucket = client.bucket(GCS_BUCKET)

    def run(name: str, size: int) -> tuple[float, float]:
        blob = bucket.blob(f"direct/{name}")
        put = _timed(lambda: blob.upload_from_file(io.BufferedReader(_Stream(size)), size=size))
        get = _timed(lambda: blob.download_to_file(_Sink()))
        return put, get

    return run


def _azure_sdk(server: Azurite) -> Callable[[str, int], tuple[float, float]]:
    from azure.storage.blob import ContainerClient

    url = f"http://{server.authority}/{ACCOUNT}"
    container = ContainerClient(
        url, AZURE_CONTAINER, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}
    )

    def run(name: str, size: int) -> tuple[float, float]:
        blob = container.get_blob_client(f"direct/{name}")
        put = _timed(lambda: blob.upload_blob(_Stream(size), length=size, overwrite=True))
        get = _timed(lambda: blob.download_blob().readinto(_Sink()))
        return put, get

    return run


def measure(kind: str, workdir: Path, size: int, reps: int) -> list[str]:
    with contextlib.ExitStack() as stack:
        server, api = emulator_gateway(kind, workdir, stack)
        sdk = _gcs_sdk(server) if isinstance(server, FakeGcs) else _azure_sdk(server)
        samples: dict[str, list[float]] = {
            k: [] for k in ("gw-put", "gw-get", "sdk-put", "sdk-get")
        }
        for _ in range(reps):
            name = f"1/{uuid.uuid4().hex}.bin"
            put, get = _gateway(api, name, size)
            samples["gw-put"].append(put)
            samples["gw-get"].append(get)
            put, get = sdk(name, size)
            samples["sdk-put"].append(put)
            samples["sdk-get"].append(get)
        rows = []
        for transfer, key in (("upload", "put"), ("download", "get")):
            gateway, direct = samples[f"gw-{key}"], samples[f"sdk-{key}"]
            ratio = statistics.median(direct) / statistics.median(gateway)
            rows.append(
                f"| {kind} | {size // MIB} MiB | {transfer} | {_cell(gateway, size)} | "
                f"{_cell(direct, size)} | {ratio:.2f} |"
            )
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=int,
        default=128,
        help="MiB per transfer (at 8 MiB Azurite refuses the direct SDK's one-shot Put Blob from"
        " this stream with AuthorizationFailure; 128 MiB, in blocks, is what the docs measure)",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", choices=("gcs", "azure"), default=None)
    args = parser.parse_args()
    rows = [f"load average before: {os.getloadavg()[0]:.2f}"]
    rows += ["| emulator | size | transfer | gateway MiB/s | direct SDK MiB/s | ratio |"]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("gcs", "azure"):
            if args.only in (None, kind):
                rows += measure(kind, Path(tmp), args.size * MIB, args.reps)
    rows.append(f"load average after: {os.getloadavg()[0]:.2f}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
