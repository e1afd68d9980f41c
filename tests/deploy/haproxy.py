"""HAProxy (Debian) in front of gateway replicas: round-robin, `/ready` health checks, and its
runtime API for the documented drain (take a server out, wait for its sessions, restart it).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.helpers import debian
from tests.helpers.processes import ManagedProcess, free_port

HAPROXY = "/usr/sbin/haproxy"

CONFIG = """global
    maxconn 512
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout http-request 30s
    # A request whose connection failed, or whose reused idle connection was closed by a
    # replica going away, goes to another replica (HAProxy 2.6 "retry-on", "option redispatch").
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    http-reuse safe

frontend gateway
    bind 127.0.0.1:{port}
    monitor-uri /lb-health
    default_backend replicas

backend replicas
    balance roundrobin
    # The gateway refuses requests without an allowed Host (DNS rebinding), checks included.
    option httpchk
    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


class Balancer(ManagedProcess):
    """haproxy -db on 127.0.0.1:`port` over `backends` (name -> port)."""

    def __init__(self, workdir: Path, backends: dict[str, int]) -> None:
        debian.ensure_installed(("haproxy",), (Path(HAPROXY),))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket_path = workdir / "haproxy.sock"
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{port} check" for name, port in backends.items()
        )
        config = workdir / "haproxy.cfg"
        config.write_text(CONFIG.format(socket=self.socket_path, port=self.port, servers=servers))
        argv = [HAPROXY, "-db", "-f", str(config)]
        super().__init__(argv, f"{self.url}/lb-health", workdir / "haproxy.log")

    def command(self, line: str) -> str:
        """One runtime-API command over the stats socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers: status (UP/DOWN/DRAIN...), scur, ..."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row
            for row in rows
            if row.get("pxname") == "replicas" and row["svname"] not in ("BACKEND", "FRONTEND")
        }

    def wait_status(self, name: str, prefix: str, timeout: float = 30.0) -> float:
        """Seconds until `name`'s status starts with `prefix`; raises after `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.servers()[name]["status"].startswith(prefix):
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"{name} not {prefix} after {timeout}s: {self.servers()[name]}")

    def drain(self, name: str, timeout: float = 60.0) -> float:
        """Takes `name` out of rotation and waits until it holds no session; returns seconds."""
        self.command(f"set server replicas/{name} state drain")
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if int(self.servers()[name]["scur"] or 0) == 0:
                break
            time.sleep(0.1)
        return time.monotonic() - started

    def ready(self, name: str) -> None:
        self.command(f"set server replicas/{name} state ready")
