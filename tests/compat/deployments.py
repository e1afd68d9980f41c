"""What the compatibility deployments share with their tests: the auth users, the 3.18 refusal
text and the stock-client runners."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.compat import clients
from tests.helpers.stack import clean_env
from tests.helpers.upstreams import NO_TELEMETRY

PRESIGNED_ONLY_DOWNLOAD = (
    "This server requires artifacts to be downloaded directly from storage. Upgrade your MLflow "
    "client to match this server (MLflow 3.18.0) or a newer version with presigned-only artifact "
    "support, then retry the download. If you are using the MLflow UI, reload the page to refresh "
    "the server settings."
)


MIB = 1024 * 1024
# 5 MiB parts up (S3's least), 4 MiB ranges down: several of each on a 12 MiB file.
SMALL_CHUNKS = {
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MIB),
    "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(4 * MIB),
}


def presigned_files(directory: Path) -> tuple[Path, Path, Path]:
    """A small file, a 12 MiB model of three parts and an empty file, in `directory`."""
    small, big, empty = directory / "small.txt", directory / "model.bin", directory / "empty.txt"
    small.write_bytes(b"presigned only\n")
    empty.write_bytes(b"")  # 3.18 asks for one part (`max(1, chunks)`) and PUTs nothing on it
    big.write_bytes(bytes(range(256)) * (12 * MIB // 256) + b"tail")  # three 5 MiB parts
    return small, big, empty


@dataclass(frozen=True)
class User:
    name: str
    password: str
    permissions: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        """What a stock client is given to authenticate."""
        return {"MLFLOW_TRACKING_USERNAME": self.name, "MLFLOW_TRACKING_PASSWORD": self.password}

    @property
    def auth(self) -> tuple[str, str]:
        return (self.name, self.password)


# EDIT on experiment 7 only (READ elsewhere); ADMIN may do anything.
EDITOR = User("editor", "editor-pass-4c8e2a6f", {"7": "EDIT", "*": "READ"})
ADMIN = User("admin", "admin-pass-9b3d7f1e", {"*": "MANAGE"})


def run_script(
    venv: clients.ClientVenv, program: list[str], payload: object, tracking_uri: str | None,
    workdir: Path, **env: str,
) -> Any:  # fmt: skip
    """`program` (a script path, or `-c` and its text) in the version's own interpreter, with
    `payload` as JSON in argv; the JSON on the last line it prints."""
    extra = {"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}
    environment = clean_env(**NO_TELEMETRY, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", **extra, **env)
    environment.pop("PYTHONPATH", None)
    argv = [str(venv.python), *program, json.dumps(payload)]
    result = subprocess.run(
        argv, cwd=workdir, env=environment, capture_output=True, text=True, timeout=420, check=False
    )
    assert result.returncode == 0, f"{venv.version}: {result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_client(
    venv: clients.ClientVenv, config: dict, tracking_uri: str | None, workdir: Path, **env: str
) -> dict:
    """tests/compat/matrix_client.py in the version's own interpreter; its JSON answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"workdir": str(workdir), **config}
    script = str(Path(__file__).with_name("matrix_client.py"))
    return run_script(venv, [script], config, tracking_uri, workdir, **env)
