"""Start SeaweedFS, the gateway and the reference `mlflow server`; stop all of them, always.

Each HTTP server gets its own empty TMPDIR so the temp-disk sampler sees only its spool files.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from tests.benchmarks.progress import say
from tests.helpers.processes import ManagedProcess, free_port
from tests.helpers.seaweed import Identity, SeaweedS3

BUCKET = "bench"
REGION = "us-east-1"
IDENTITY = Identity("bench", "benchaccesskey", "benchsecretkey0123456789")
SERVER_START_TIMEOUT = 120.0
# The benchmark's clients all come from 127.0.0.1, one "user" to the fair-share limits (issue 23:
# 64 requests in flight, a quarter of the budget): lifted, so that wrk at c=64 and `concurrent`'s
# 64 transfers measure speed, not those limits (docs/performance.md says so).
GATEWAY_BENCH_ARGS = (
    "--fair-share.max-requests-per-user",
    "100000",
    "--fair-share.user-share",
    "1",
)


@dataclass(frozen=True)
class S3Info:
    """Where the bucket lives and how to sign for it: shared by every target."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = REGION
    master: str = ""  # SeaweedFS master URL, for `/vol/vacuum` after big deletes
    filer: str = ""  # SeaweedFS filer URL: creating many objects without S3 signing

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
        }

    def client_kwargs(self) -> dict:
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }

    def boto3_client(self, max_pool_connections: int = 10):
        config = Config(
            max_pool_connections=max_pool_connections,
            connect_timeout=10,
            read_timeout=120,
            retries={"max_attempts": 2},
            s3={"addressing_style": "path"},
        )
        return boto3.client("s3", config=config, **self.client_kwargs())


@dataclass(frozen=True)
class Server:
    """One running HTTP artifact server: its URL, root pid and private TMPDIR."""

    name: str
    base_url: str
    pid: int
    tmpdir: Path
    process: ManagedProcess

    @property
    def artifacts_url(self) -> str:
        return f"{self.base_url}/api/2.0/mlflow-artifacts/artifacts"


def _server_env(base_env: dict[str, str], s3: S3Info, tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = dict(base_env)
    env.update(s3.env())
    env.update({"TMPDIR": str(tmpdir), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"})
    return env


def _server_argv(
    name: str, port: int, bucket: str, gateway_args: tuple[str, ...], prefix: str | None = None
) -> list[str]:
    destination = f"s3://{bucket}/{prefix or name}"
    if name == "gateway":
        return [
            sys.executable,
            "-m",
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--artifacts-destination",
            destination,
            *GATEWAY_BENCH_ARGS,
            *gateway_args,
        ]
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    return [
        mlflow,
        "server",
        "--artifacts-only",
        "--artifacts-destination",
        destination,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def start_seaweed(stack: contextlib.ExitStack, workdir: Path) -> S3Info:
    """One SeaweedFS for everybody, with the bucket made, stopped when the stack closes."""
    say("starting SeaweedFS")
    (workdir / "seaweed").mkdir(parents=True, exist_ok=True)
    seaweed = SeaweedS3(workdir / "seaweed", [IDENTITY])
    stack.callback(seaweed.stop)
    seaweed.start()
    master = f"http://127.0.0.1:{seaweed.master_port}"
    filer = f"http://127.0.0.1:{seaweed.filer_port}"
    keys = (IDENTITY.access_key, IDENTITY.secret_key)
    s3 = S3Info(seaweed.endpoint, BUCKET, *keys, master=master, filer=filer)
    s3.boto3_client().create_bucket(Bucket=BUCKET)
    return s3


def start_server(
    stack: contextlib.ExitStack,
    name: str,
    s3: S3Info,
    workdir: Path,
    base_env: dict[str, str],
    gateway_args: tuple[str, ...] = (),
    label: str | None = None,
    prefix: str | None = None,
) -> Server:
    """Start `gateway` or `reference` on a free loopback port; stopped when the stack closes.

    `label` names the TMPDIR and log of a second instance of the same server (default: `name`,
    or `name-on-prefix`). `prefix` (default: `name`) is its destination's key prefix: another
    target's prefix makes two servers serve the same objects."""
    port = free_port()
    label = label or (name if prefix in (None, name) else f"{name}-on-{prefix}")
    tmpdir = workdir / f"{label}-tmp"
    process = ManagedProcess(
        _server_argv(name, port, s3.bucket, gateway_args, prefix),
        f"http://127.0.0.1:{port}/health",
        workdir / f"{label}.log",
        env=_server_env(base_env, s3, tmpdir),
        cwd=workdir,
        start_timeout=SERVER_START_TIMEOUT,
        stop_grace=5.0,
    )
    stack.callback(process.stop)
    say(f"starting {label} on port {port}")
    process.start()
    return Server(name, f"http://127.0.0.1:{port}", process.pid, tmpdir, process)


@contextlib.contextmanager
def running(
    names: tuple[str, ...], workdir: Path, base_env: dict[str, str], gateway_args: tuple[str, ...]
) -> Iterator[tuple[S3Info, dict[str, Server]]]:
    """SeaweedFS plus the HTTP servers among `names`; all process groups stopped on exit."""
    with contextlib.ExitStack() as stack:
        s3 = start_seaweed(stack, workdir)
        servers = {
            name: start_server(stack, name, s3, workdir, base_env, gateway_args)
            for name in names
            if name != "direct"
        }
        try:
            yield s3, servers
        finally:
            say("stopping servers")
