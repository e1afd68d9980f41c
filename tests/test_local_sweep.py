"""The local store's crash-leftover sweep on real files: what is old goes, what is live stays.

The SIGKILL cases themselves are in tests/faults/test_local_crash.py; these pin the edges the
crash tests cannot aim at (a live temp file, an old directory still holding an artifact, a
symlinked directory, the staging area's uploads).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from gateway.stores.capabilities import StaleTemporaries
from gateway.stores.local import LocalStore

HEX = "0123456789abcdef" * 2
OLD = time.time() - 3600


def _age(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (OLD, OLD), follow_symlinks=False)


def _sweep(root: Path) -> int:
    store = LocalStore(str(root), 1024)
    assert isinstance(store, StaleTemporaries)
    cutoff = datetime.fromtimestamp(time.time() - 60, tz=timezone.utc)
    return asyncio.run(store.remove_stale(cutoff))


def test_old_temp_files_and_the_directories_they_emptied_go(tmp_path: Path) -> None:
    crashed = tmp_path / "7" / "run" / "artifacts"
    crashed.mkdir(parents=True)
    temp = crashed / f".big.bin.{HEX}.gateway-part"
    temp.write_bytes(b"half")
    _age(temp, crashed, crashed.parent, crashed.parent.parent)
    assert _sweep(tmp_path) == 4
    assert list(tmp_path.iterdir()) == []


def test_live_uploads_artifacts_and_what_symlinks_lead_to_stay(tmp_path: Path) -> None:
    keep = tmp_path / "7" / "kept"
    keep.mkdir(parents=True)
    (keep / "model.pkl").write_bytes(b"an artifact")
    live = keep / f".next.bin.{HEX}.gateway-part"
    live.write_bytes(b"being written")  # fresh mtime: an upload in progress
    elsewhere = tmp_path.parent / f"{tmp_path.name}-outside"
    elsewhere.mkdir()
    stale_outside = elsewhere / f".x.{HEX}.gateway-part"
    stale_outside.write_bytes(b"not ours")
    os.symlink(elsewhere, tmp_path / "7" / "link")
    _age(keep, keep.parent, stale_outside, *(keep / name for name in ("model.pkl",)))
    assert _sweep(tmp_path) == 0
    assert (keep / "model.pkl").exists() and live.exists() and stale_outside.exists()


def test_half_created_uploads_in_staging_go_and_real_uploads_stay(tmp_path: Path) -> None:
    staging = tmp_path / ".gateway-uploads"
    half = staging / f".{HEX}.tmp"
    half.mkdir(parents=True)
    (half / "manifest.json").write_text("{}")
    upload = staging / HEX
    upload.mkdir()
    _age(half, upload)
    assert _sweep(tmp_path) == 1
    assert not half.exists() and upload.exists()  # real uploads are the abort pass's
