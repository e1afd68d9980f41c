"""Real parts: one SeaweedFS per session, gateways as real processes, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from tests.backends.fixtures import azurite, fake_gcs  # noqa: F401  (session fixtures)
from tests.processes import ManagedProcess, free_port
from tests.seaweed import Identity, SeaweedS3

ADMIN = Identity("admin", "AKIDGATEWAYADMIN01", "gateway-admin-secret-6f1d2c9e")
BUCKET = "artifacts"
TEAM_BUCKETS = ("bucket-a", "bucket-b")


def bucket_identity(name: str, bucket: str, access_key: str, secret_key: str) -> Identity:
    """May use `bucket` only: a request signed with the wrong keys fails instead of landing."""
    actions = [f"{action}:{bucket}" for action in ("Read", "Write", "List", "Tagging")]
    return Identity(name, access_key, secret_key, actions=actions)


TEAM_A = bucket_identity("team-a", "bucket-a", "AKIDTEAMA000000001", "team-a-secret-3c1e9b7a5d")
TEAM_B = bucket_identity("team-b", "bucket-b", "AKIDTEAMB000000002", "team-b-secret-8f2a6d4c0e")
NOBODY = bucket_identity(
    "nobody", "no-such-bucket", "AKIDNOBODY00000003", "nobody-secret-5e7b1f3a9c"
)
OUTSIDE_PREFIX = "outside"


def s3_env(endpoint: str, identity: Identity = ADMIN) -> dict[str, str]:
    """The environment `mlflow server` would get; no metadata endpoint is ever asked."""
    return {
        "AWS_ACCESS_KEY_ID": identity.access_key,
        "AWS_SECRET_ACCESS_KEY": identity.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "GATEWAY_"))}
    env.update(extra)
    return env


@dataclass
class Gateway:
    process: ManagedProcess
    url: str
    destination: str  # "local" or "s3"
    root: Path | None = None  # local destination directory
    prefix: str = ""  # key prefix inside BUCKET

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow-artifacts/artifacts"

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path


def start_gateway(
    workdir: Path,
    args: list[str],
    env: dict[str, str],
    name: str = "gateway",
    module: str = "gateway",
) -> tuple[ManagedProcess, str]:
    """A gateway process on a free port; returns it with its base URL. `module` runs a wrapper
    that registers a test-only store type before the gateway's main."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args]
    process = ManagedProcess(argv, f"{url}/health", workdir / f"{name}.log", env=env, cwd=workdir)
    return process.start(), url


@contextlib.contextmanager
def own_s3_gateway(
    seaweed: SeaweedS3, workdir: Path, prefix: str, bucket: str = BUCKET
) -> Iterator[Gateway]:
    """A gateway process of its own on SeaweedFS, so its peak RSS is one test's alone."""
    args = ["--artifacts-destination", f"s3://{bucket}/{prefix}"]
    process, url = start_gateway(workdir, args, clean_env(**s3_env(seaweed.endpoint)))
    try:
        yield Gateway(process, url, "s3", prefix=prefix)
    finally:
        process.stop()


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


def admin_client(endpoint: str):
    return client_as(endpoint, ADMIN)


def client_as(endpoint: str, identity: Identity):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=identity.access_key,
        aws_secret_access_key=identity.secret_key,
        region_name="us-east-1",
    )


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
    """Per-experiment destinations and client auth: see tests/teams.py."""
    from tests import teams  # it builds on this module

    with teams.running(
        seaweed.endpoint, tmp_path_factory.mktemp("teams"), teams.teams_config
    ) as gw:
        yield gw


@pytest.fixture(scope="session")
def refusing_teams_gateway(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory):
    """Like `teams_gateway`, with destinations that refuse the gateway: see tests/teams.py."""
    from tests import teams

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


def stored_bytes(gw: Gateway, s3_client, path: str) -> bytes | None:
    """What the destination itself holds at `path`, read behind the gateway's back."""
    if gw.destination == "local":
        assert gw.root is not None
        file = gw.root / path
        return file.read_bytes() if file.is_file() else None
    try:
        return s3_client.get_object(Bucket=BUCKET, Key=gw.key(path))["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None


def pending_uploads(s3_client) -> list[dict]:
    return s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def assert_no_pending_uploads(request: pytest.FixtureRequest) -> None:
    """The shared bucket holds no multipart upload, checked only if the test used SeaweedFS
    (statically or through `getfixturevalue`), so a pure test never starts a server for it."""
    if "seaweed" in request.fixturenames:
        assert pending_uploads(request.getfixturevalue("s3")) == []


MEASUREMENTS = pytest.StashKey[list[str]]()


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
    cache) overlap the rest of the suite instead of holding up the first of them."""
    items.sort(key=_needs_client_venvs)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The stock-client venvs start building now if a collected test will need them."""
    if any(_needs_client_venvs(item) for item in session.items):
        from tests.compat import clients

        clients.prefetch()
