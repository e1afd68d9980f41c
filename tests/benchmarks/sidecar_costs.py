"""`python -m tests.benchmarks.sidecar_costs`: what the digest sidecars cost on SFTP and FTP
(real OpenSSH sshd and pyftpdlib over TLS on 127.0.0.1), in ms per call, median of 5 rounds:
a `stat` with the sidecar read (a process that has not seen the file), with it remembered
(`KnownDigests`), and without sidecars; a 4 KiB write with and without them
(docs/integrity.md, "What hashing costs"). "Without" swaps the three sidecar calls for no-ops:
the code as it was before the sidecars.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import gateway.stores.tree.store as tree_store
from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.sidecars import KnownDigests
from tests.conformance.remote import ftp_destination, sftp_destination
from tests.helpers.bodies import Bytes
from tests.helpers.remote_servers import ftpd, sshd

ROUNDS, CALLS = 5, 50
SIDECAR_CALLS = ("read_digest", "keep_digest", "forget_digest")


async def _nothing(*_: object) -> None:
    return None


@contextlib.contextmanager
def _sidecars(on: bool):
    kept = {name: getattr(tree_store, name) for name in SIDECAR_CALLS}
    if not on:
        for name in SIDECAR_CALLS:
            setattr(tree_store, name, _nothing)
    try:
        yield
    finally:
        for name, call in kept.items():
            setattr(tree_store, name, call)


async def _ms(call: Callable[[int], Awaitable[object]]) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(CALLS):
            await call(i)
        rounds.append((time.perf_counter() - start) / CALLS * 1e3)
    return statistics.median(rounds)


async def _measure(store) -> dict[str, float]:
    await store.write("a.bin", Bytes(os.urandom(4096)))

    async def cold(_: int) -> None:
        store._known = KnownDigests()
        await store.stat("a.bin")

    out = {"stat, sidecar read": await _ms(cold)}
    out["stat, remembered"] = await _ms(lambda _: store.stat("a.bin"))
    for on in (False, True):
        with _sidecars(on):
            if not on:
                out["stat, no sidecars"] = await _ms(lambda _: store.stat("a.bin"))
            label = "write 4 KiB, sidecars" if on else "write 4 KiB, no sidecars"
            out[label] = await _ms(lambda i: store.write(f"w{i}.bin", Bytes(os.urandom(4096))))
    await store.close()
    return out


def main() -> None:
    settings = load_settings(["--artifacts-destination", tempfile.mkdtemp()])
    rows = [f"load average before: {os.getloadavg()[0]:.2f}", "| | SFTP ms | FTP ms |"]
    rows.append("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        ssh = stack.enter_context(sshd(Path(tmp) / "ssh"))
        ftp = stack.enter_context(ftpd(Path(tmp) / "ftp"))
        (ssh.root / "costs").mkdir(parents=True, exist_ok=True)
        raws = [sftp_destination(ssh, ssh.root / "costs"), ftp_destination(ftp, "costs")]
        results = [
            asyncio.run(_measure(create_store(parse_options(raw).with_secret_files(), settings)))
            for raw in raws
        ]
    for label in results[0]:
        rows.append(f"| {label} | {results[0][label]:.2f} | {results[1][label]:.2f} |")
    rows.append(f"load average after: {os.getloadavg()[0]:.2f}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
