"""The soak's own SeaweedFS and gateway (auth on), on 127.0.0.1, stopped whatever happens."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.cli import hash_password
from tests.helpers.processes import ManagedProcess
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client, clean_env, s3_env, start_gateway

USER = "soak"
PASSWORD = "soak-password-7c3e1a9b"


@dataclass
class Running:
    seaweed: SeaweedS3
    gateway: ManagedProcess
    url: str


def write_config(workdir: Path) -> Path:
    config = {
        "auth": {
            "users": [
                {
                    "name": USER,
                    "password_hash": hash_password(PASSWORD),
                    "permissions": {"*": "MANAGE"},
                }
            ]
        }
    }
    path = workdir / "gateway.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@contextlib.contextmanager
def running(workdir: Path, part_size: int) -> Iterator[Running]:
    workdir.mkdir(parents=True, exist_ok=True)
    seaweed = SeaweedS3(workdir / "seaweed", [ADMIN])
    (workdir / "seaweed").mkdir(exist_ok=True)
    gateway = None
    try:
        seaweed.start()
        admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
        args = [
            "--config",
            str(write_config(workdir)),
            "--artifacts-destination",
            f"s3://{BUCKET}/soak",
            "--s3.part-size",
            str(part_size),
            "--log-level",
            "warning",
        ]
        gateway, url = start_gateway(workdir, args, clean_env(**s3_env(seaweed.endpoint)))
        yield Running(seaweed, gateway, url)
    finally:
        if gateway is not None:
            gateway.stop()
        seaweed.stop()
