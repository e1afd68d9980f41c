"""The SFTP and FTP entries of `destinations.BACKENDS`: a gateway on the session's real sshd
(`ssh_server`) or FTP server (`ftp_server`). Both serve directories of this machine, so what
the backend holds is read straight from disk (`LocalRaw`)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.destinations import (
    Destination,
    LocalRaw,
    Unreachable,
    start_configured,
    unreachable_on,
)
from tests.helpers.processes import free_port
from tests.helpers.remote_servers import FTP_PASSWORD, FTP_USER
from tests.helpers.stack import Gateway

SFTP_PASSWORD = "sftp-secret-3f9a02c4"  # configured beside the key; it must never leak either


def sftp_destination(server, root: Path, port: int | None = None) -> dict:
    uri = server.uri(root)
    if port is not None:
        uri = uri.replace(f":{server.port}/", f":{port}/")
    return {
        "uri": uri,
        "private_key_file": str(server.client_key),
        "known_hosts_file": str(server.known_hosts),
        "password": SFTP_PASSWORD,
        "connect_timeout": 3,
    }


def ftp_destination(server, directory: str, port: int | None = None) -> dict:
    uri = server.uri(directory, "ftps")
    if port is not None:
        uri = uri.replace(f":{server.port}/", f":{port}/")
    return {
        "uri": uri,
        "password": FTP_PASSWORD,
        "ca_file": str(server.certificate),
        "connect_timeout": 3,
    }


@contextlib.contextmanager
def _tree_gateway(
    kind: str, workdir: Path, destination: dict, root: Path, secrets: tuple[str, ...]
) -> Iterator[Destination]:
    process, url = start_configured(workdir, destination)
    try:
        gateway = Gateway(process, url, kind)
        yield Destination(kind, gateway, LocalRaw(root), destination["uri"], secrets)
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def start_sftp(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    server = request.getfixturevalue("ssh_server")
    root = server.root / "conformance"
    with _tree_gateway(
        "sftp", workdir, sftp_destination(server, root), root, (SFTP_PASSWORD,)
    ) as dest:
        yield dest


@contextlib.contextmanager
def unreachable_sftp(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Unreachable]:
    """Nothing listens on the port: the key and known_hosts are real, the password a secret."""
    server = request.getfixturevalue("ssh_server")
    destination = sftp_destination(server, server.root / "unreachable", port=free_port())
    with unreachable_on(workdir, destination, (SFTP_PASSWORD,)) as unreachable:
        yield unreachable


@contextlib.contextmanager
def start_ftp(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Destination]:
    server = request.getfixturevalue("ftp_server")
    root = server.root / "conformance"
    destination = ftp_destination(server, "conformance")
    with _tree_gateway("ftp", workdir, destination, root, (FTP_PASSWORD,)) as dest:
        yield dest


@contextlib.contextmanager
def unreachable_ftp(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Unreachable]:
    server = request.getfixturevalue("ftp_server")
    destination = ftp_destination(server, "unreachable", port=free_port())
    with unreachable_on(workdir, destination, (FTP_PASSWORD, FTP_USER + ":")) as unreachable:
        yield unreachable
