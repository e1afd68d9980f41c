"""Session fixtures for the real SFTP and FTP servers (one of each per session, shared by the
conformance suite and tests/backends/test_remote_stores.py), registered in tests/conftest.py by
importing them: `from tests.backends.remote_fixtures import ftp_server, ssh_server`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.remote_servers import FtpServer, SshServer, ftpd, sshd


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """Debian's OpenSSH sshd on a free port, key login for this user."""
    with sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpServer]:
    """pyftpdlib with explicit TLS required, one user with a password."""
    with ftpd(tmp_path_factory.mktemp("ftpd")) as server:
        yield server
