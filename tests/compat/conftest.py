"""Deployments for the compatibility tests: real `mlflow server` processes (3.17.2 from the suite's
venv, 3.18.0 from its own), gateways on SeaweedFS and on local disk, one with client auth.

Every process listens on 127.0.0.1 on a free port in its own process group and is stopped by
its fixture. The session's servers are shared by the client matrix, the browser tests, the
artifacts-server scenarios and the 3.18 contract tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.compat import clients
from tests.compat.deployments import ADMIN, EDITOR
from tests.helpers.cli import hash_password
from tests.helpers.stack import BUCKET, MEASUREMENTS, Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import assert_no_pending_uploads
from tests.helpers.upstreams import (
    Server,
    start_mlflow_server,
    start_s3_gateway,
    stopping,
)


@pytest.fixture(autouse=True)
def no_dangling_uploads(request: pytest.FixtureRequest) -> Iterator[None]:
    """The bucket is shared with tests/multipart, which expects no multipart upload in it; a
    test that never asked for SeaweedFS starts no server for this check."""
    yield
    assert_no_pending_uploads(request)


@pytest.fixture(scope="session")
def client_venvs(request) -> dict[str, clients.ClientVenv]:
    """Every client version's venv; the missing ones are built in parallel (bounded), most
    likely already since collection (`clients.prefetch`)."""
    venvs = {v: f.result(timeout=900) for v, f in clients.prefetch().items()}
    measurements = request.config.stash.setdefault(MEASUREMENTS, [])
    for venv in venvs.values():
        if venv.build_seconds is not None:
            measurements.append(f"client venv {venv.version} built in {venv.build_seconds:.0f} s")
    return venvs


@pytest.fixture(scope="session")
def tracking_317(tmp_path_factory) -> Iterator[Server]:
    """Deployment A's tracking server, 3.17.2."""
    server = start_mlflow_server(
        Path(sys.executable), tmp_path_factory.mktemp("compat-a") / "tracking", "mlflow-artifacts:/"
    )
    with stopping(server):
        yield server


@pytest.fixture(scope="session")
def gateway_a(tracking_317, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    """Deployment A on SeaweedFS: clients know only this gateway."""
    workdir = tmp_path_factory.mktemp("compat-a-gateway")
    gw = start_s3_gateway(workdir, seaweed, "compat-a", "--tracking-uri", tracking_317.url)
    with stopping(gw):
        yield gw


@pytest.fixture(scope="session")
def gateway_a_local(tracking_317, tmp_path_factory) -> Iterator[Gateway]:
    """Deployment A on a local destination, in front of the same tracking server."""
    workdir = tmp_path_factory.mktemp("compat-a-local")
    root = workdir / "mlartifacts"
    args = ["--artifacts-destination", str(root), "--tracking-uri", tracking_317.url]
    process, url = start_gateway(workdir, args, clean_env())
    with stopping(Gateway(process, url, "local", root=root)) as gw:
        yield gw


@pytest.fixture(scope="session")
def gateway_b(seaweed, tmp_path_factory) -> Iterator[Gateway]:
    """Deployment B's gateway: artifacts only."""
    gw = start_s3_gateway(tmp_path_factory.mktemp("compat-b-gateway"), seaweed, "compat-b")
    with stopping(gw):
        yield gw


@pytest.fixture(scope="session")
def tracking_b(gateway_b, tmp_path_factory) -> Iterator[Server]:
    """Deployment B's tracking server (3.17.2), whose artifact root is the gateway."""
    workdir = tmp_path_factory.mktemp("compat-b") / "tracking"
    with stopping(start_mlflow_server(Path(sys.executable), workdir, gateway_b.api)) as server:
        yield server


@pytest.fixture(scope="session")
def tracking_318(client_venvs, tmp_path_factory) -> Iterator[Server]:
    """Deployment A's tracking server, 3.18.0 from its own venv."""
    server = start_mlflow_server(
        client_venvs["3.18.0"].python,
        tmp_path_factory.mktemp("compat-a318") / "tracking",
        "mlflow-artifacts:/",
    )
    with stopping(server):
        yield server


@pytest.fixture(scope="session")
def gateway_a318(tracking_318, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("compat-a318-gateway")
    gw = start_s3_gateway(workdir, seaweed, "compat-a318", "--tracking-uri", tracking_318.url)
    with stopping(gw):
        yield gw


@pytest.fixture(scope="session")
def gateway_auth(tracking_317, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    """Deployment A with client auth on SeaweedFS (passthrough routes need a known user too)."""
    workdir = tmp_path_factory.mktemp("compat-auth")
    users = [
        {"name": u.name, "password_hash": hash_password(u.password), "permissions": u.permissions}
        for u in (EDITOR, ADMIN)
    ]
    config = workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump({"auth": {"users": users}}))
    args = [
        "--config",
        str(config),
        "--artifacts-destination",
        f"s3://{BUCKET}/compat-auth",
        "--tracking-uri",
        tracking_317.url,
    ]
    env = clean_env(**s3_env(seaweed.endpoint))
    process, url = start_gateway(workdir, args, env)
    with stopping(Gateway(process, url, "s3", prefix="compat-auth")) as gw:
        yield gw
