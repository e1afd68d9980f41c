"""Real parts for fault tests: a SeaweedFS of their own (they kill and restart it), the fault
proxy in front of its S3 port, and a gateway that reaches S3 only through the proxy.

The invariants are checked behind the gateway's back with boto3 on SeaweedFS's real port;
the stack's parts and settings are in tests/faults/stack.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy
from tests.faults.stack import Stack, start_faulty_gateway, warm_up
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import (
    ADMIN,
    BUCKET,
    admin_client,
)


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
