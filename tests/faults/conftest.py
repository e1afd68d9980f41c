"""Real parts for fault tests: a SeaweedFS of their own (they kill and restart it), the fault
proxy in front of its S3 port, and a gateway that reaches S3 only through the proxy.

The invariants are checked behind the gateway's back with boto3 on SeaweedFS's real port.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN, BUCKET, Gateway, admin_client, clean_env, s3_env, start_gateway
from tests.faults.harness import MIB, Resources, payload, put, wait_until
from tests.faults.proxy import FaultProxy
from tests.processes import ManagedProcess
from tests.seaweed import SeaweedS3

PREFIX = "faults"
PART_SIZE = 5 * MIB
S3_READ_TIMEOUT = 2  # a black hole ends in this (times botocore's 3 attempts), not 120 s
# Through a black hole the gateway should answer within 3 attempts x 2 s plus backoff (< 4 s)
# plus an abort as long: a client that has heard nothing after this gives up and says so.
BLACKHOLE_CLIENT_TIMEOUT = 25


@pytest.fixture(scope="package")
def fault_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("fault-seaweed"), [ADMIN]).start()
    try:
        admin_client(server.endpoint).create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def direct_s3(fault_seaweed: SeaweedS3):
    """boto3 on SeaweedFS's own port: what is really stored, whatever the proxy does."""
    return admin_client(fault_seaweed.endpoint)


@pytest.fixture(scope="package")
def s3_proxy(fault_seaweed: SeaweedS3) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", fault_seaweed.s3_port) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def _healthy_proxy_after(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "s3_proxy" in request.fixturenames:
        request.getfixturevalue("s3_proxy").clear()


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


@pytest.fixture(scope="module")
def stack(fault_seaweed, direct_s3, s3_proxy, tmp_path_factory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("fault-gateway")
    gw = start_faulty_gateway(workdir, s3_proxy)
    try:
        st = Stack(gw, s3_proxy, fault_seaweed, direct_s3, workdir)
        warm_up(st)
        st.baseline = st.resources()
        yield st
    finally:
        gw.process.stop()


def warm_up(st: Stack) -> None:
    """Every path once, so pools and executors have grown before the baseline is taken."""
    data = payload(12 * MIB, seed=99)
    for i in range(2):
        assert put(st.gateway, f"warmup/{i}.bin", data).ok
        assert put(st.gateway, f"warmup/{i}.txt", b"small").ok
    assert wait_until(lambda: st.resources().backend > 0, 10)
