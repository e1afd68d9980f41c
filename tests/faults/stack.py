"""The fault tests' stack: a gateway reaching S3 only through the fault proxy, its settings,
and the raw-socket client that watches a process die under it."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from tests.faults.harness import MIB, Resources, payload, put, wait_until
from tests.faults.proxy import FaultProxy
from tests.helpers.processes import ManagedProcess
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import BUCKET, Gateway, clean_env, s3_env, start_gateway

PREFIX = "faults"
PART_SIZE = 5 * MIB
S3_READ_TIMEOUT = 2  # a black hole ends in this (times botocore's 3 attempts), not 120 s
# Through a black hole the gateway should answer within 3 attempts x 2 s plus backoff (< 4 s)
# plus an abort as long: a client that has heard nothing after this gives up and says so.
BLACKHOLE_CLIENT_TIMEOUT = 25


def gateway_args(prefix: str = PREFIX) -> list[str]:
    return [
        "--artifacts-destination",
        f"s3://{BUCKET}/{prefix}",
        "--s3.part-size",
        str(PART_SIZE),
        "--s3.connect-timeout",
        "2",
        "--s3.read-timeout",
        str(S3_READ_TIMEOUT),
        "--multipart.signing-secret",
        "fault-tests-signing-secret-0123456789abcdef",
        "--multipart.url-ttl",
        "600",
    ]


@dataclass
class Stack:
    gateway: Gateway
    proxy: FaultProxy
    seaweed: SeaweedS3
    s3: object  # boto3 client on the real port
    workdir: Path
    baseline: Resources | None = None

    @property
    def pid(self) -> int:
        return self.gateway.process.pid

    @property
    def backend_ports(self) -> set[int]:
        return {self.proxy.port, self.seaweed.s3_port}

    def resources(self) -> Resources:
        return Resources.of(self.pid, self.backend_ports)


def start_faulty_gateway(workdir: Path, proxy: FaultProxy, name: str = "gateway") -> Gateway:
    env = clean_env(**s3_env(proxy.endpoint))
    process, url = start_gateway(workdir, gateway_args(), env, name=name)
    return Gateway(process, url, "s3", prefix=PREFIX)


def restart_same_port(process: ManagedProcess) -> ManagedProcess:
    """Starts the same argv again: same port, same data or destination."""
    process.proc = None
    return process.start()


def warm_up(st: Stack) -> None:
    """Every path once, so pools and executors have grown before the baseline is taken."""
    data = payload(12 * MIB, seed=99)
    for i in range(2):
        assert put(st.gateway, f"warmup/{i}.bin", data).ok
        assert put(st.gateway, f"warmup/{i}.txt", b"small").ok
    assert wait_until(lambda: st.resources().backend > 0, 10)


def partial_upload(url: str, api_path: str, declared: int, send: int) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"PUT {api_path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {declared}\r\n\r\n"
    sock.sendall(head.encode())
    block = payload(MIB, seed=3)
    for _ in range(send // MIB):
        sock.sendall(block)
    return sock


def cut_seen(sock: socket.socket) -> str:
    """What a client blocked on its upload sees when the gateway dies: EOF or a reset."""
    sock.settimeout(10)
    try:
        data = sock.recv(1024)
    except (ConnectionResetError, BrokenPipeError) as exc:
        return f"cut connection ({type(exc).__name__})"
    except TimeoutError:
        return "no answer (timeout)"
    return "cut connection (EOF)" if not data else f"an answer: {data[:60]!r}"
