"""Real parts: one SeaweedFS per session, gateways as real processes, all on 127.0.0.1.

Only fixtures and hooks live here; what tests share beyond fixtures is in tests/helpers/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.backends.fixtures import azurite, fake_gcs  # noqa: F401  (session fixtures)
from tests.backends.remote_fixtures import ftp_server, ssh_server  # noqa: F401  (the same)
from tests.helpers import teams
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import (
    ADMIN,
    BUCKET,
    MEASUREMENTS,
    NOBODY,
    TEAM_A,
    TEAM_B,
    TEAM_BUCKETS,
    Gateway,
    admin_client,
    clean_env,
    s3_env,
    start_gateway,
)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    identities = [ADMIN, TEAM_A, TEAM_B, NOBODY]
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"), identities).start()
    try:
        client = admin_client(server.endpoint)
        for bucket in (BUCKET, *TEAM_BUCKETS):
            client.create_bucket(Bucket=bucket)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(seaweed: SeaweedS3):
    return admin_client(seaweed.endpoint)


@pytest.fixture(scope="session")
def s3_gateway(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("s3-gateway")
    env = clean_env(**s3_env(seaweed.endpoint))
    process, url = start_gateway(workdir, ["--artifacts-destination", f"s3://{BUCKET}/root"], env)
    try:
        yield Gateway(process, url, "s3", prefix="root")
    finally:
        process.stop()


@pytest.fixture(scope="session")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("local-gateway")
    root = workdir / "mlartifacts"
    process, url = start_gateway(workdir, ["--artifacts-destination", str(root)], clean_env())
    try:
        yield Gateway(process, url, "local", root=root)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def teams_gateway(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory):
    """Per-experiment destinations and client auth: see tests/helpers/teams.py."""
    with teams.running(
        seaweed.endpoint, tmp_path_factory.mktemp("teams"), teams.teams_config
    ) as gw:
        yield gw


@pytest.fixture(scope="session")
def refusing_teams_gateway(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory):
    """Like `teams_gateway`, with destinations that refuse the gateway: see
    tests/helpers/teams.py."""
    workdir = tmp_path_factory.mktemp("refusing-teams")
    with teams.running(seaweed.endpoint, workdir, teams.refusing_config) as gw:
        yield gw


@pytest.fixture(params=["local", "s3"])
def gateway(request: pytest.FixtureRequest) -> Gateway:
    return request.getfixturevalue(f"{request.param}_gateway")


@pytest.fixture
def exp() -> str:
    """A fresh experiment-like prefix so tests sharing a gateway never see each other."""
    return str(uuid.uuid4().int % 10**9)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def measurements(request: pytest.FixtureRequest) -> list[str]:
    """Figures a test records for the reader (memory, sizes); printed after the run."""
    return request.config.stash.setdefault(MEASUREMENTS, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(MEASUREMENTS, [])
    if lines:
        terminalreporter.section("measurements")
        for line in lines:
            terminalreporter.write_line(line)


def _needs_client_venvs(item: pytest.Item) -> bool:
    return "client_venvs" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the stock-client venvs run last, so the venvs' builds (pip, minutes on an empty
    cache) overlap the rest of the suite instead of holding up the first of them. A `perf` test
    must be `slow` too, so the quick check (`-m "not slow"`) never depends on machine load."""
    unmarked = [
        item.nodeid
        for item in items
        if item.get_closest_marker("perf") and not item.get_closest_marker("slow")
    ]
    if unmarked:
        raise pytest.UsageError(f"perf tests not marked slow: {', '.join(unmarked)}")
    items.sort(key=_needs_client_venvs)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The stock-client venvs start building now if a collected test will need them."""
    if any(_needs_client_venvs(item) for item in session.items):
        from tests.compat import clients

        clients.prefetch()
