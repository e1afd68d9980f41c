"""A local root without user xattrs keeps digests in hidden sidecars (`kept_digests.py`).

The filesystems here all keep user xattrs, so the unit edge simulates one that does not:
`os.setxattr` raises ENOTSUP, as on ramfs or vfat (docs/integrity.md names the manual run on
a real ramfs mount)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from pathlib import Path

import pytest

from gateway.stores.errors import InvalidRequest
from gateway.stores.local import LocalStore
from gateway.stores.local.kept_digests import SHA256_XATTR
from tests.helpers.bodies import Bytes
from tests.helpers.cli import run_cli


@pytest.fixture
def no_xattrs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every setxattr refused with ENOTSUP; returns the targets it was asked for."""
    asked: list[object] = []

    def refuse(target: object, *_args: object) -> None:
        asked.append(target)
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)
    return asked


async def _read_all(store: LocalStore, path: str) -> tuple[bytes, bytes | None]:
    download = await store.open(path, None)
    try:
        return b"".join([chunk async for chunk in download.chunks()]), download.stat.sha256
    finally:
        await download.close()


def test_sidecars_where_the_root_keeps_no_xattrs(tmp_path: Path, no_xattrs: list) -> None:
    data, other = os.urandom(5000), b"second version"

    async def scenario() -> None:
        store = LocalStore(str(tmp_path), 1024)
        await store.start()
        await store.write("1/m/model.pkl", Bytes(data))
        await store.write("1/m/conda.yaml", Bytes(b"x"))
        assert len(no_xattrs) == 1  # the probe, once per root; no further attempts
        assert store.digests.xattrs is False
        sidecar = tmp_path / "1" / "m" / ".model.pkl.gateway-sha256"
        assert sidecar.read_text().split()[0] == hashlib.sha256(data).hexdigest()
        assert (await store.stat("1/m/model.pkl")).sha256 == hashlib.sha256(data).digest()
        assert await _read_all(store, "1/m/model.pkl") == (data, hashlib.sha256(data).digest())
        assert [e.name for e in await store.list("1/m")] == ["conda.yaml", "model.pkl"]
        for reserved in ("1/m/.model.pkl.gateway-sha256", "1/.m.gateway-sha256"):
            with pytest.raises(InvalidRequest, match="reserved"):
                await store.open(reserved, None)
            with pytest.raises(InvalidRequest, match="reserved"):
                await store.write(reserved, Bytes(b"forged"))
        await store.write("1/m/model.pkl", Bytes(other))  # an overwrite: a new sidecar
        assert (await store.stat("1/m/model.pkl")).sha256 == hashlib.sha256(other).digest()
        # Replaced behind the gateway's back (a new inode, made while the old one lives):
        (tmp_path / "1/m/elsewhere").write_bytes(other)
        os.replace(tmp_path / "1/m/elsewhere", tmp_path / "1/m/model.pkl")
        assert (await store.stat("1/m/model.pkl")).sha256 is None  # not the old file's digest
        await store.delete("1/m/model.pkl")
        assert not sidecar.exists()
        await store.delete("1/m/conda.yaml")
        assert not (tmp_path / "1").exists()  # emptied parents go: no sidecar stays behind

    asyncio.run(scenario())


def test_a_root_with_xattrs_writes_no_sidecar(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalStore(str(tmp_path), 1024)
        await store.write("1/a.txt", Bytes(b"a"))
        assert store.digests.xattrs is True
        assert (
            os.getxattr(tmp_path / "1/a.txt", SHA256_XATTR)
            == hashlib.sha256(b"a").hexdigest().encode()
        )
        assert sorted(os.listdir(tmp_path / "1")) == ["a.txt"]

    asyncio.run(scenario())


def test_verify_reads_the_sidecars(tmp_path: Path, no_xattrs: list) -> None:
    root = tmp_path / "artifacts"

    async def write() -> None:
        store = LocalStore(str(root), 1024)
        await store.start()
        await store.write("1/good.bin", Bytes(b"g" * 100))
        await store.write("1/rot.bin", Bytes(b"r" * 100))

    asyncio.run(write())
    with open(root / "1/rot.bin", "r+b") as file:  # bit rot: same inode and size
        file.write(b"R")
    result = run_cli("verify", "--artifacts-destination", str(root))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH   1/rot.bin" in result.stdout
    assert "2 files, 200 bytes: 1 matched, 1 mismatched, 0 without a digest" in result.stdout
