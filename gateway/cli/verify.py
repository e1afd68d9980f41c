"""`artifact-gateway verify [--destination NAME] [PREFIX]`: re-reads stored files and compares
each with the SHA-256 stored beside it (docs/integrity.md). Read-only; one file's chunk in
memory at a time, as every download.

Exit codes: 0 every digest matched, 1 a mismatch or an unreadable file, 2 bad arguments or
configuration. Files without a digest are listed and counted; they alone do not fail the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from gateway.cli.startup import PROG, configured, report
from gateway.redact import redact
from gateway.stores.base import ArtifactStore
from gateway.stores.errors import StoreError

_MAX_DEPTH = 256  # deeper than any artifact tree; a loop in a listing cannot run forever


@dataclass
class Tally:
    files: int = 0
    bytes: int = 0
    matched: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # files stored without a digest
    failed: list[str] = field(default_factory=list)


def _split(argv: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """`--destination NAME` and PREFIX come first; the rest is the usual configuration."""
    args, name, prefix = list(argv), None, ""
    while args:
        if args[0] == "--destination" and len(args) > 1:
            name, args = args[1], args[2:]
        elif args[0].startswith("--destination="):
            name, args = args[0].split("=", 1)[1], args[1:]
        elif not args[0].startswith("-") and not prefix:
            prefix, args = args[0].strip("/"), args[1:]
        else:
            break
    return name, prefix, args


async def _files(store: ArtifactStore, path: str, depth: int = 0) -> AsyncIterator[str]:
    if depth > _MAX_DEPTH:
        return
    entries = await store.list(path)
    if not entries and path:  # a file, or nothing
        yield path
        return
    for entry in entries:
        child = f"{path}/{entry.name}" if path else entry.name
        if entry.is_dir:
            async for found in _files(store, child, depth + 1):
                yield found
        else:
            yield child


async def _check(store: ArtifactStore, path: str, tally: Tally) -> None:
    download = await store.open(path, None)
    async with download:
        digest = hashlib.sha256()
        async for chunk in download.chunks():
            digest.update(chunk)
            tally.bytes += len(chunk)
    stored = download.stat.sha256
    if stored is None:
        tally.missing.append(path)
        print(f"no-digest  {path}")
    elif stored != digest.digest():
        tally.mismatched.append(path)
        print(f"MISMATCH   {path}  stored sha256 {stored.hex()}, read {digest.hexdigest()}")
    else:
        tally.matched += 1


def _progress(tally: Tally, path: str) -> None:
    if sys.stderr.isatty():
        shown = path if len(path) <= 50 else "…" + path[-49:]
        mib = tally.bytes / 1024**2
        print(f"\r{tally.files} files, {mib:.1f} MiB  {shown:<50}", end="", file=sys.stderr)


async def _verify(store: ArtifactStore, prefix: str) -> Tally:
    tally = Tally()
    await store.start()
    try:
        async for path in _files(store, prefix):
            tally.files += 1
            _progress(tally, path)
            try:
                await _check(store, path, tally)
            except StoreError as exc:
                tally.failed.append(path)
                print(f"UNREADABLE {path}  {exc.message}")
    finally:
        await store.close()
        if sys.stderr.isatty():
            print(file=sys.stderr)
    return tally


def verify(argv: Sequence[str]) -> int:
    """Re-reads every file under PREFIX of one destination (or each) and checks its digest."""
    name, prefix, rest = _split(argv)
    loaded = configured(rest)
    if loaded is None:
        return 2
    _, destinations = loaded
    names = list(destinations.stores) if name is None else [name]
    if name is not None and name not in destinations.stores:
        report([f"no destination {name!r}: {', '.join(sorted(destinations.stores))}"])
        return 2
    bad = False
    for each in names:
        store = destinations.stores[each]
        tally = asyncio.run(_verify(store, prefix))
        print(
            f"{each} ({redact(store.uri)}): {tally.files} files, {tally.bytes} bytes: "
            f"{tally.matched} matched, {len(tally.mismatched)} mismatched, "
            f"{len(tally.missing)} without a digest, {len(tally.failed)} unreadable"
        )
        bad = bad or bool(tally.mismatched or tally.failed)
    if bad:
        print(f"{PROG}: verify found files that do not match their digests", file=sys.stderr)
    return 1 if bad else 0
