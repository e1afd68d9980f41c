"""`artifact-gateway verify` on a local destination: files written through the store carry a
digest; one changed behind the gateway's back is found, one written around it is listed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.stores.local import LocalStore
from tests.helpers.bodies import Bytes
from tests.helpers.cli import run_cli


def _store_files(root: Path, files: dict[str, bytes]) -> None:
    async def write() -> None:
        store = LocalStore(str(root), 1024 * 1024)
        await store.start()
        for path, data in files.items():
            await store.write(path, Bytes(data))

    asyncio.run(write())


def test_verify_passes_on_intact_files(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    _store_files(root, {"1/a/model.pkl": os.urandom(3000), "1/b.txt": b"b"})
    result = run_cli("verify", "--artifacts-destination", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 files, 3001 bytes: 2 matched, 0 mismatched, 0 without a digest" in result.stdout


def test_verify_finds_a_changed_file_and_lists_one_without_digest(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    _store_files(root, {"1/a/model.pkl": b"weights" * 100, "1/ok.txt": b"fine", "2/x": b"x"})
    with open(root / "1/a/model.pkl", "r+b") as file:  # bit rot: same size, xattr kept
        file.write(b"W")
    (root / "1/plain.txt").write_bytes(b"written around the gateway")
    result = run_cli(
        "verify", "--destination", "default", "1", "--artifacts-destination", str(root)
    )
    assert result.returncode == 1
    assert "MISMATCH   1/a/model.pkl" in result.stdout
    assert "no-digest  1/plain.txt" in result.stdout
    assert "3 files" in result.stdout and "1 mismatched, 1 without a digest" in result.stdout
    assert "2/x" not in result.stdout  # outside the prefix


def test_verify_refuses_an_unknown_destination(tmp_path: Path) -> None:
    result = run_cli(
        "verify", "--destination", "nope", "--artifacts-destination", str(tmp_path / "a")
    )
    assert result.returncode == 2 and "no destination 'nope'" in result.stderr
