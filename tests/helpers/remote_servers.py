"""Real SFTP and FTP servers for tests, on 127.0.0.1 and free ports, each in its own process
group: Debian's OpenSSH `sshd` (installed when missing) with a generated host key and an
authorized key, and pyftpdlib's FTP server with explicit TLS (`tests.helpers.ftp_server`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.debian import ensure_installed
from tests.helpers.processes import ManagedProcess, free_port

SSHD = Path("/usr/sbin/sshd")
KEYGEN = Path("/usr/bin/ssh-keygen")
FTP_USER = "mlflow"
FTP_PASSWORD = "ftp-secret-7d1c0b5e"  # a test value; the conformance suite checks it never leaks


class TcpProcess(ManagedProcess):
    """A server that is ready once its port accepts a connection (no HTTP health route)."""

    def __init__(self, argv: list[str], port: int, log_path: Path, **kwargs) -> None:
        super().__init__(argv, f"tcp://127.0.0.1:{port}", log_path, **kwargs)
        self.port = port

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=2),
            ):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.argv[0]} not listening after {self.start_timeout}s")


@dataclass
class SshServer:
    process: TcpProcess
    port: int
    user: str
    root: Path  # the directory destinations point into (any path works: sshd serves them all)
    client_key: Path  # authorized
    known_hosts: Path  # holds the server's host key for [127.0.0.1]:port

    def uri(self, directory: Path) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{directory}"


def _keygen(path: Path) -> None:
    subprocess.run(
        [str(KEYGEN), "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


@contextlib.contextmanager
def sshd(workdir: Path) -> Iterator[SshServer]:
    """OpenSSH's sshd for this user only: its own config, `-D -e`, `UsePAM no`, key login."""
    ensure_installed(("openssh-server",), (SSHD, KEYGEN))
    workdir.mkdir(parents=True, exist_ok=True)
    _keygen(workdir / "host_key")
    _keygen(workdir / "client_key")
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    port = free_port()
    host_public = (workdir / "host_key.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {workdir / 'host_key'}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
                "UsePAM no",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "MaxStartups 64:30:128",
                "MaxSessions 64",
                "Subsystem sftp internal-sftp",
                "LogLevel INFO",
                "",
            ]
        )
    )
    if os.getuid() == 0:  # sshd run by root separates privileges into this directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root = workdir / "files"
    root.mkdir()
    argv = [str(SSHD), "-D", "-e", "-f", str(config)]
    process = TcpProcess(argv, port, workdir / "sshd.log").start()
    try:
        yield SshServer(
            process, port, _user(), root, workdir / "client_key", workdir / "known_hosts"
        )
    finally:
        process.stop()


@dataclass
class FtpServer:
    process: TcpProcess
    port: int
    root: Path  # the FTP user's home: destination paths are inside it
    certificate: Path  # the server's self-signed certificate: the client's CA file

    def uri(self, directory: str, scheme: str = "ftp") -> str:
        return f"{scheme}://{FTP_USER}@127.0.0.1:{self.port}/{directory.strip('/')}"


def _self_signed(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its IP in subjectAltName, so hostname checks pass)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "ftp-cert.pem", workdir / "ftp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextlib.contextmanager
def ftpd(workdir: Path, tls: bool = True) -> Iterator[FtpServer]:
    """pyftpdlib with explicit TLS (AUTH TLS) required on control and data channels."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = _self_signed(workdir)
    root = workdir / "home"
    root.mkdir()
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "tests.helpers.ftp_server",
        "--port",
        str(port),
        "--root",
        str(root),
        "--user",
        FTP_USER,
        "--password-env",
        "FTP_TEST_PASSWORD",
    ]
    if tls:
        argv += ["--cert", str(cert), "--key", str(key)]
    env = {**os.environ, "FTP_TEST_PASSWORD": FTP_PASSWORD}
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    process = TcpProcess(argv, port, workdir / "ftpd.log", env=env).start()
    try:
        yield FtpServer(process, port, root, cert)
    finally:
        process.stop()
