"""What the compatibility deployments share with their tests: the auth users, the 3.18 refusal
text and the stock-client runner."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.compat import clients
from tests.helpers.stack import clean_env
from tests.helpers.upstreams import NO_TELEMETRY

PRESIGNED_ONLY_DOWNLOAD = (
    "This server requires artifacts to be downloaded directly from storage. Upgrade your MLflow "
    "client to match this server (MLflow 3.18.0) or a newer version with presigned-only artifact "
    "support, then retry the download. If you are using the MLflow UI, reload the page to refresh "
    "the server settings."
)


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


def run_client(
    venv: clients.ClientVenv, config: dict, tracking_uri: str | None, workdir: Path, **env: str
) -> dict:
    """tests/compat/matrix_client.py in the version's own interpreter; its JSON answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"workdir": str(workdir), **config}
    extra = {"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}
    environment = clean_env(**NO_TELEMETRY, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", **extra, **env)
    environment.pop("PYTHONPATH", None)
    argv = [str(venv.python), str(Path(__file__).with_name("matrix_client.py")), json.dumps(config)]
    result = subprocess.run(
        argv, cwd=workdir, env=environment, capture_output=True, text=True, timeout=420, check=False
    )
    assert result.returncode == 0, f"{venv.version}: {result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])
