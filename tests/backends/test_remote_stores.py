"""SFTP and FTP stores against the session's real servers (Debian's OpenSSH sshd, pyftpdlib with
explicit TLS required): the stock MLflow client end to end through a gateway, and what the
conformance suite does not reach: refused logins and host keys, untrusted certificates, the
pool's bound. The conformance suite (tests/conformance) covers the rest."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.capabilities import MultipartUploads, RangedDownloads
from gateway.stores.errors import CredentialsRefused, InvalidRequest
from gateway.stores.ranges import ByteRange
from tests.conformance.destinations import start_configured
from tests.conformance.remote import SFTP_PASSWORD, ftp_destination, sftp_destination
from tests.helpers.bodies import Bytes
from tests.helpers.remote_servers import FTP_PASSWORD, KEYGEN
from tests.helpers.store_calls import run

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


def build(raw: dict, tmp_path: Path):
    settings = load_settings(["--artifacts-destination", str(tmp_path / "unused")])
    return create_store(parse_options(raw).with_secret_files(), settings)


def destination_for(kind: str, request: pytest.FixtureRequest, directory: str) -> dict:
    if kind == "sftp":
        server = request.getfixturevalue("ssh_server")
        return sftp_destination(server, server.root / directory)
    return ftp_destination(request.getfixturevalue("ftp_server"), directory)


def root_for(kind: str, request: pytest.FixtureRequest, directory: str) -> Path:
    server = request.getfixturevalue("ssh_server" if kind == "sftp" else "ftp_server")
    return server.root / directory


@pytest.mark.parametrize("kind", ["sftp", "ftp"])
def test_stock_client_round_trip_through_the_gateway(kind, request, tmp_path, monkeypatch):
    """MLflow's own artifact repository (what `mlflow.log_artifacts` uses) against a gateway on
    the store: a tree up, listed, down with equal SHA-256, then deleted. No multipart is
    advertised, so the client's proxy multipart setting falls back to single PUTs."""
    directory = f"client-{uuid.uuid4().hex[:8]}"
    process, url = start_configured(tmp_path, destination_for(kind, request, directory))
    try:
        for name, value in {
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        }.items():
            monkeypatch.setenv(name, value)
        info = requests.get(f"{url}/api/3.0/mlflow/server-info", timeout=60).json()
        assert info["multipart_uploads_enabled"] is False
        tree = {
            "model/MLmodel": b"flavors: {}\n",
            "model/data/weights.bin": os.urandom(6 * MIB + 7),
            "données/模型 ü.txt": "ü".encode(),
            "empty.txt": b"",
        }
        upload = tmp_path / "upload"
        for name, data in tree.items():
            (upload / name).parent.mkdir(parents=True, exist_ok=True)
            (upload / name).write_bytes(data)
        repo = MlflowArtifactsRepository(f"mlflow-artifacts://{url.removeprefix('http://')}/5/r")
        repo.log_artifacts(str(upload))
        listed = {(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("model")}
        assert listed == {("model/MLmodel", False, 12), ("model/data", True, None)}
        (tmp_path / "out").mkdir()
        out = Path(repo.download_artifacts("", str(tmp_path / "out")))
        for name, data in tree.items():
            got = (out / name).read_bytes()
            assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), name
        stored = root_for(kind, request, directory) / "5/r/model/data/weights.bin"
        assert stored.read_bytes() == tree["model/data/weights.bin"]
        repo.delete_artifacts("model")
        assert [f.path for f in repo.list_artifacts()] == ["données", "empty.txt"]
        assert not (root_for(kind, request, directory) / "5/r/model").exists()
    finally:
        process.stop()
    log = process.log_text()
    for secret in (SFTP_PASSWORD, FTP_PASSWORD):
        assert secret not in log
    assert "Traceback" not in log


@pytest.mark.parametrize("kind", ["sftp", "ftp"])
def test_digests_live_in_hidden_sidecars_that_must_match_their_file(kind, request, tmp_path):
    """tree/digests.py: kept on every write, served on reads and ranges, never listed or
    served as a file, renewed by an overwrite, void for a file replaced behind the gateway's
    back, and gone with the file (so its emptied directory is pruned)."""
    directory = f"digests-{uuid.uuid4().hex[:8]}"
    store = build(destination_for(kind, request, directory), tmp_path)
    root = root_for(kind, request, directory)
    data, other = os.urandom(1000), os.urandom(3 * MIB + 1)

    async def scenario():
        await store.write("d/a.bin", Bytes(data))
        assert (await store.stat("d/a.bin")).sha256 == hashlib.sha256(data).digest()
        async with await store.open("d/a.bin", ByteRange(10, 19)) as download:
            assert download.stat.sha256 == hashlib.sha256(data).digest()
        assert [e.name for e in await store.list("d")] == ["a.bin"]
        for reserved in ("d/.a.bin.gateway-sha256", ".x.gateway-sha256/y"):
            with pytest.raises(InvalidRequest, match="reserved"):
                await store.stat(reserved)
        await store.write("d/a.bin", Bytes(other))
        assert (await store.stat("d/a.bin")).sha256 == hashlib.sha256(other).digest()
        (root / "d" / "a.bin").write_bytes(data)  # behind the gateway's back
        assert (await store.stat("d/a.bin")).sha256 is None
        await store.delete("d/a.bin")

    run(store, scenario)
    assert not (root / "d").exists()


def test_capabilities_are_declared_honestly(request, tmp_path):
    """Ranges cost what they read (a seek on the server); no multipart, no presigning."""
    for kind in ("sftp", "ftp"):
        store = build(destination_for(kind, request, "caps"), tmp_path)
        assert isinstance(store, RangedDownloads)
        assert not isinstance(store, MultipartUploads)


def test_sftp_refused_key_is_a_clear_error_without_secrets(ssh_server, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(
        [str(KEYGEN), "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
        check=True,
        timeout=30,
    )
    raw = {**sftp_destination(ssh_server, ssh_server.root / "x"), "private_key_file": str(stranger)}
    store = build(raw, tmp_path)
    with pytest.raises(CredentialsRefused) as caught:
        run(store, store.check)
    assert "refused the gateway's login" in caught.value.message
    assert raw["uri"] in caught.value.message and SFTP_PASSWORD not in caught.value.message


def test_sftp_host_key_is_checked_unless_turned_off_with_a_warning(ssh_server, tmp_path, caplog):
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{ssh_server.port} "
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcFhJv0d1PdJ8hj7DRhDXcrIRc3n7oMq5UdbKJ7R0mQ\n"
    )
    raw = {**sftp_destination(ssh_server, ssh_server.root / "hk"), "known_hosts_file": str(other)}
    store = build(raw, tmp_path)
    with pytest.raises(CredentialsRefused) as caught:
        run(store, store.check)
    assert "host key" in caught.value.message
    unchecked = {**raw, "check_host_key": False}
    with caplog.at_level(logging.WARNING, logger="gateway.stores.sftp"):
        store = build(unchecked, tmp_path)
    assert any("check_host_key is false" in r.getMessage() for r in caplog.records)
    run(store, store.check)  # any host key is accepted now


def test_ftp_refused_password_and_untrusted_certificate(ftp_server, tmp_path):
    raw = ftp_destination(ftp_server, "refused")
    store = build({**raw, "password": "not-the-password"}, tmp_path)
    with pytest.raises(CredentialsRefused) as caught:
        run(store, store.check)
    assert "refused the gateway's login" in caught.value.message
    assert "not-the-password" not in caught.value.message
    untrusted = {k: v for k, v in raw.items() if k != "ca_file"}
    store = build(untrusted, tmp_path)
    with pytest.raises(CredentialsRefused) as caught:
        run(store, store.check)
    assert "certificate is not trusted" in caught.value.message


@pytest.mark.parametrize("kind", ["sftp", "ftp"])
def test_the_pool_never_opens_more_than_max_connections(kind, request, tmp_path):
    """Twelve uploads at once through a pool of two: all stored, never more than two open."""
    raw = {**destination_for(kind, request, f"pool-{uuid.uuid4().hex[:6]}"), "max_connections": 2}
    store = build(raw, tmp_path)
    pool = store.pool
    opened, peak = [], [0]
    connect = pool._connect

    async def counting():
        session = await connect()
        opened.append(session)
        return session

    pool._connect = counting

    async def scenario():
        async def one(i: int) -> None:
            await store.write(f"p/{i}.bin", Bytes(os.urandom(MIB + i)))
            peak[0] = max(peak[0], 2 - pool._slots._value)

        await asyncio.gather(*(one(i) for i in range(12)))
        return sorted(e.name for e in await store.list("p"))

    names = run(store, scenario)
    assert names == sorted(f"{i}.bin" for i in range(12))
    assert 1 <= len(opened) <= 2 and peak[0] <= 2


@pytest.mark.parametrize("kind", ["sftp", "ftp"])
def test_a_killed_gateways_temp_file_is_hidden_then_swept_by_age(kind, request, tmp_path):
    """What an upload leaves when the process dies between its first byte and the rename."""
    directory = f"stale-{uuid.uuid4().hex[:6]}"
    root = root_for(kind, request, directory)
    (root / "1").mkdir(parents=True)
    (root / "1" / "kept.txt").write_bytes(b"kept")
    old = root / f".gateway-upload.{uuid.uuid4().hex}"
    old.write_bytes(b"partial")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    fresh = root / f".gateway-upload.{uuid.uuid4().hex}"  # an upload still in progress
    fresh.write_bytes(b"in flight")
    store = build(destination_for(kind, request, directory), tmp_path)

    async def scenario():
        listed = [e.name for e in await store.list("")]
        with pytest.raises(InvalidRequest, match="reserved"):
            await store.stat(old.name)
        cutoff = datetime.now(timezone.utc) - timedelta(hours=1)
        return listed, await store.remove_stale(cutoff)

    listed, removed = run(store, scenario)
    assert listed == ["1"] and removed == 1
    assert not old.exists() and fresh.exists() and (root / "1" / "kept.txt").exists()
