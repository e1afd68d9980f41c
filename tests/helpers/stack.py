"""Real parts on 127.0.0.1: SeaweedFS identities, gateway processes, and their environments."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.helpers.processes import ManagedProcess, free_port
from tests.helpers.seaweed import Identity, SeaweedS3

ADMIN = Identity("admin", "AKIDGATEWAYADMIN01", "gateway-admin-secret-6f1d2c9e")
BUCKET = "artifacts"
TEAM_BUCKETS = ("bucket-a", "bucket-b")
OUTSIDE_PREFIX = "outside"

# Figures a test records for the reader (memory, sizes); tests/conftest.py prints them.
MEASUREMENTS = pytest.StashKey[list[str]]()


def bucket_identity(name: str, bucket: str, access_key: str, secret_key: str) -> Identity:
    """May use `bucket` only: a request signed with the wrong keys fails instead of landing."""
    actions = [f"{action}:{bucket}" for action in ("Read", "Write", "List", "Tagging")]
    return Identity(name, access_key, secret_key, actions=actions)


TEAM_A = bucket_identity("team-a", "bucket-a", "AKIDTEAMA000000001", "team-a-secret-3c1e9b7a5d")
TEAM_B = bucket_identity("team-b", "bucket-b", "AKIDTEAMB000000002", "team-b-secret-8f2a6d4c0e")
NOBODY = bucket_identity(
    "nobody", "no-such-bucket", "AKIDNOBODY00000003", "nobody-secret-5e7b1f3a9c"
)


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
    """This process's environment without AWS_*, MLFLOW_* and GATEWAY_* variables, plus `extra`."""
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
