"""The gateway against direct `pyarrow.fs` calls on the same emulator (fake-gcs-server,
Azurite): wall time of one streamed upload and one download, median (min-max) of `--reps`.

`python -m tests.benchmarks.arrow_emulators [--size MiB] [--gcs-size MiB] [--reps N]`. The
emulators say nothing about the clouds' speed (fake-gcs-server's uploads are quadratic in the
object's size, Azurite varies 2-3x between runs): this shows what the gateway's hop costs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from tests.backends.azurite import Azurite
from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.backends.gcs import FakeGcs
from tests.conformance.destinations import azure_destination, gcs_destination, start_configured

MIB = 1024 * 1024
BLOCK = b"\x5a" * MIB


def _blocks(size: int) -> Iterator[bytes]:
    for _ in range(size // MIB):
        yield BLOCK


def _timed(fn: Callable[[], None]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def _direct(fs, path: str, size: int, flush_every: int | None) -> tuple[float, float]:
    def put() -> None:
        with fs.open_output_stream(path) as out:
            for i, block in enumerate(_blocks(size), 1):
                out.write(block)
                if flush_every and i % (flush_every // MIB) == 0:
                    out.flush()

    def get() -> None:
        with fs.open_input_stream(path) as src:
            while src.read(MIB):
                pass

    return _timed(put), _timed(get)


def _gateway(api: str, path: str, size: int) -> tuple[float, float]:
    def put() -> None:
        assert requests.put(f"{api}/{path}", data=_blocks(size), timeout=900).status_code == 200

    def get() -> None:
        with requests.get(f"{api}/{path}", stream=True, timeout=900) as resp:
            assert resp.status_code == 200
            for _ in resp.iter_content(MIB):
                pass

    return _timed(put), _timed(get)


def _cell(values: list[float], size: int) -> str:
    rates = [size / MIB / v for v in values]
    return f"{statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"


def emulator_gateway(
    kind: str, workdir: Path, stack: contextlib.ExitStack
) -> tuple[FakeGcs | Azurite, str]:
    """The `kind` ("gcs", "azure") emulator with its bucket or container, and the artifact API
    of a gateway on its `bench` prefix; both stopped by `stack`."""
    server: FakeGcs | Azurite
    if kind == "gcs":
        server = FakeGcs(workdir / "gcs")
        server.workdir.mkdir()
        stack.callback(server.start().stop)
        server.create_bucket(GCS_BUCKET)
        destination = gcs_destination(server.url, "bench")
    else:
        server = Azurite(workdir / "azure")
        server.workdir.mkdir()
        stack.callback(server.start().stop)
        server.create_container(AZURE_CONTAINER)
        destination = azure_destination(server.authority, "bench")
    process, url = start_configured(workdir, destination, name=f"gateway-{kind}")
    stack.callback(process.stop)
    return server, f"{url}/api/2.0/mlflow-artifacts/artifacts"


def measure(kind: str, workdir: Path, size: int, reps: int) -> list[str]:
    with contextlib.ExitStack() as stack:
        server, api = emulator_gateway(kind, workdir, stack)
        if kind == "gcs":
            base, flush = f"{GCS_BUCKET}/bench", None
        else:
            base, flush = f"{AZURE_CONTAINER}/bench", 16 * MIB
        fs = server.filesystem()
        samples: dict[str, list[float]] = {k: [] for k in ("gw-put", "gw-get", "pa-put", "pa-get")}
        for _ in range(reps):  # interleaved, so drift hits both alike
            name = f"1/{uuid.uuid4().hex}.bin"
            put, get = _gateway(api, name, size)
            samples["gw-put"].append(put)
            samples["gw-get"].append(get)
            put, get = _direct(fs, f"{base}/direct-{name}", size, flush)
            samples["pa-put"].append(put)
            samples["pa-get"].append(get)
        return [
            f"| {kind} | {size // MIB} MiB | upload | {_cell(samples['gw-put'], size)} | "
            f"{_cell(samples['pa-put'], size)} |",
            f"| {kind} | {size // MIB} MiB | download | {_cell(samples['gw-get'], size)} | "
            f"{_cell(samples['pa-get'], size)} |",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="MiB on Azure")
    parser.add_argument("--gcs-size", type=int, default=16, help="MiB on fake-gcs-server")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows = ["| emulator | size | transfer | gateway MiB/s | direct pyarrow MiB/s |"]
    rows.append("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        rows += measure("azure", Path(tmp), args.size * MIB, args.reps)
        rows += measure("gcs", Path(tmp), args.gcs_size * MIB, args.reps)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
