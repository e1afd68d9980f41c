"""Subprocess probes of pyarrow.fs, run as `python -m tests.backends.probes ...`.

They run in their own process so that a probe that hangs (a call that keeps the GIL while it
waits) is killed by the caller's timeout, and so that the process's peak RSS (VmHWM) counts
the transfer alone.

- `gil KIND TARGET [OP,...]`: every pyarrow.fs call runs in `asyncio.to_thread` while its
  bytes pass through a relay that is a coroutine on this process's event loop (a FIFO drained
  by the loop for `local`). A call can only finish if it lets the loop run, i.e. releases the
  GIL while it waits for I/O; one that kept it would deadlock.
- `stream KIND TARGET SIZE_MIB [FLUSH_EVERY_MIB]`: writes SIZE_MIB in 1 MiB writes (flushing
  every FLUSH_EVERY_MIB if given), reads it back in 1 MiB reads, copies (or moves) it, and
  reports MiB/s and the peak RSS above the warmed-up baseline.

KIND is `gcs`, `azure` (TARGET: `host:port/bucket`) or `local` (TARGET: a directory).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

MIB = 1024 * 1024
OP_TIMEOUT = float(os.environ.get("PROBE_OP_TIMEOUT", "120"))  # seconds per pyarrow call


def filesystem(kind: str, authority: str):
    from pyarrow import fs

    if kind == "gcs":
        import datetime

        return fs.GcsFileSystem(
            anonymous=True,
            scheme="http",
            endpoint_override=authority,
            project_id="gateway-tests",
            retry_time_limit=datetime.timedelta(seconds=20),
        )
    if kind == "azure":
        from tests.backends.azurite import ACCOUNT, ACCOUNT_KEY

        return fs.AzureFileSystem(
            account_name=ACCOUNT,
            account_key=ACCOUNT_KEY,
            blob_storage_authority=authority,
            blob_storage_scheme="http",
            dfs_storage_authority=authority,
            dfs_storage_scheme="http",
        )
    if kind == "local":
        return fs.LocalFileSystem()
    raise SystemExit(f"unknown kind {kind!r}")


def split_target(kind: str, target: str) -> tuple[str, str]:
    """(authority, base path inside the filesystem)."""
    if kind == "local":
        return "", target
    authority, _, bucket = target.partition("/")
    return authority, bucket


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


# -- gil ---------------------------------------------------------------------------------------


class Relay:
    """A TCP relay on 127.0.0.1 whose every byte is moved by a coroutine on this event loop."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.bytes = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(256 * 1024):
                self.bytes += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(*self.upstream), timeout=10
        )
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))


def network_ops(fs, base: str) -> list[tuple[str, object]]:
    from pyarrow import fs as pafs

    root = f"{base}/gil-{uuid.uuid4().hex}"
    block = os.urandom(MIB)

    def write() -> None:
        with fs.open_output_stream(f"{root}/a.bin") as out:
            for _ in range(8):
                out.write(block)

    def read_stream() -> None:
        with fs.open_input_stream(f"{root}/a.bin") as src:
            assert len(src.read()) == 8 * MIB

    def read_ranges() -> None:
        with fs.open_input_file(f"{root}/a.bin") as src:
            assert src.read_at(MIB, 3 * MIB) == block
            src.seek(7 * MIB)
            assert src.read(MIB) == block

    def copy() -> None:
        fs.copy_file(f"{root}/a.bin", f"{root}/b.bin")

    return [
        ("open_output_stream+write+close", write),
        ("get_file_info", lambda: fs.get_file_info(f"{root}/a.bin")),
        ("get_file_info(FileSelector)", lambda: fs.get_file_info(pafs.FileSelector(root))),
        ("open_input_stream+read", read_stream),
        ("open_input_file+read_at+seek", read_ranges),
        ("copy_file", copy),
        ("delete_file", lambda: fs.delete_file(f"{root}/b.bin")),
        ("delete_dir_contents", lambda: fs.delete_dir_contents(root, missing_dir_ok=True)),
    ]


async def gil_network(kind: str, target: str, only: set[str] | None) -> dict:
    authority, base = split_target(kind, target)
    relay = Relay(authority)
    fs = filesystem(kind, await relay.start())
    done = []
    ops = network_ops(fs, base)
    if only is not None:  # the write always runs first: the others need its object
        ops = [op for i, op in enumerate(ops) if i == 0 or op[0] in only]
    for name, op in ops:
        print(f"{name} ...", file=sys.stderr, flush=True)
        await asyncio.wait_for(asyncio.to_thread(op), timeout=OP_TIMEOUT)
        done.append(name)
    return {"completed": done, "relayed_bytes": relay.bytes}


async def gil_local(directory: str) -> dict:
    """A write into a FIFO that only this loop drains (64 KiB pipe buffer, 8 MiB written)."""
    fs = filesystem("local", "")
    fifo = os.path.join(directory, f"gil-{uuid.uuid4().hex}.fifo")
    os.mkfifo(fifo)
    loop = asyncio.get_running_loop()
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    reader = asyncio.StreamReader(limit=MIB)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )

    def write() -> None:
        with fs.open_output_stream(fifo) as out:
            for _ in range(8):
                out.write(b"w" * MIB)

    task = asyncio.ensure_future(asyncio.to_thread(write))
    relayed = 0
    while chunk := await asyncio.wait_for(reader.read(MIB), timeout=OP_TIMEOUT):
        relayed += len(chunk)
    await asyncio.wait_for(task, timeout=OP_TIMEOUT)
    transport.close()
    os.unlink(fifo)
    return {"completed": ["open_output_stream+write+close (FIFO)"], "relayed_bytes": relayed}


# -- stream ------------------------------------------------------------------------------------


def stream(kind: str, target: str, size_mib: int, flush_every: int = 0) -> dict:
    authority, base = split_target(kind, target)
    fs = filesystem(kind, authority)
    root = f"{base}/stream-{uuid.uuid4().hex}"
    if kind == "local":
        fs.create_dir(root)
    seed = os.urandom(MIB)
    with fs.open_output_stream(f"{root}/warm") as out:  # load the client libraries first
        out.write(seed)
    with fs.open_input_stream(f"{root}/warm") as src:
        src.read()
    baseline = status_kib("VmRSS")
    reset_peak()

    sent = hashlib.sha256()
    started = time.monotonic()
    with fs.open_output_stream(f"{root}/big.bin") as out:
        for i in range(size_mib):
            block = seed[i % MIB :] + seed[: i % MIB]
            sent.update(block)
            out.write(block)
            if flush_every and (i + 1) % flush_every == 0:
                out.flush()
    write_s = time.monotonic() - started
    write_peak = status_kib("VmHWM")
    reset_peak()

    received = hashlib.sha256()
    started = time.monotonic()
    with fs.open_input_stream(f"{root}/big.bin") as src:
        while block := src.read(MIB):
            received.update(block)
    read_s = time.monotonic() - started
    read_peak = status_kib("VmHWM")

    started = time.monotonic()
    commit = "copy_file"
    try:
        fs.move(f"{root}/big.bin", f"{root}/moved.bin")
        commit = "move"
    except NotImplementedError:
        fs.copy_file(f"{root}/big.bin", f"{root}/moved.bin")
        fs.delete_file(f"{root}/big.bin")
        commit = "copy_file+delete_file"
    commit_s = time.monotonic() - started
    moved_size = fs.get_file_info(f"{root}/moved.bin").size
    fs.delete_dir_contents(root, missing_dir_ok=True)
    if kind == "local":
        fs.delete_dir(root)
    return {
        "kind": kind,
        "size_mib": size_mib,
        "flush_every_mib": flush_every,
        "sha256_equal": sent.hexdigest() == received.hexdigest(),
        "moved_size": moved_size,
        "write_mib_s": size_mib / write_s,
        "read_mib_s": size_mib / read_s,
        "commit": commit,
        "commit_s": commit_s,
        "baseline_rss_mib": baseline / 1024,
        "write_peak_above_baseline_mib": (write_peak - baseline) / 1024,
        "read_peak_above_baseline_mib": (read_peak - baseline) / 1024,
    }


def main(argv: list[str]) -> None:
    probe, kind, target, *rest = argv
    if probe == "gil":
        if kind == "local":
            with tempfile.TemporaryDirectory(dir=target) as directory:
                result = asyncio.run(gil_local(directory))
        else:
            only = set(rest[0].split(",")) if rest else None
            result = asyncio.run(gil_network(kind, target, only))
    elif probe == "stream":
        result = stream(kind, target, int(rest[0]), int(rest[1]) if len(rest) > 1 else 0)
    else:
        raise SystemExit(f"unknown probe {probe!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
