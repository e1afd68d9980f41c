"""Gateways shared by teams: per-experiment destinations with their own keys, and users.

Their environment carries the keys of an identity that may touch no bucket at all, so a
destination that fell back to the environment instead of its own keys fails loudly.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from gateway.auth.passwords import hash_secret, hash_token
from tests.helpers.stack import NOBODY, TEAM_A, TEAM_B, Gateway, clean_env, s3_env, start_gateway

WRONG_SECRET = "wrong-team-a-secret-2b4d6f8a0c"
ENV_SECRET_NAME = "GATEWAY_DESTINATIONS__NLP__SECRET_ACCESS_KEY"


@dataclass(frozen=True)
class User:
    name: str
    permissions: dict[str, str]
    password: str | None = None
    token: str | None = None
    metrics: bool = False

    def config(self) -> dict:
        entry: dict = {"name": self.name, "permissions": self.permissions}
        if self.metrics:
            entry["metrics"] = True
        if self.password:
            entry["password_hash"] = hash_secret(self.password)
        if self.token:
            entry["token_hash"] = hash_token(self.token)
        return entry

    def headers(self, password: str | None = None) -> dict[str, str]:
        """What the stock client sends: Basic when a username and password are set, else Bearer."""
        if self.password or password:
            pair = f"{self.name}:{password or self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {"Authorization": f"Bearer {self.token}"}


ADMIN_USER = User("admin", {"*": "MANAGE"}, password="admin-pass-7d3f1b9e")
ALICE = User("alice", {"7": "EDIT", "*": "READ"}, password="alice-pass-0a8c6e4f")
BOB = User("bob", {"2": "MANAGE"}, password="bob-pass-5c1a9e7d")
READER = User("reader", {"*": "READ"}, password="reader-pass-e2b4c6a8")
CI = User("ci", {"2": "READ"}, token="ci-token-9f8e7d6c5b4a3f2e1d")
USERS = (ADMIN_USER, ALICE, BOB, READER, CI)
_HASHED: list[dict] = []


def users_config() -> list[dict]:
    """Hashed once per session: scrypt is slow on purpose."""
    if not _HASHED:
        _HASHED.extend(user.config() for user in USERS)
    return _HASHED


@dataclass
class TeamsGateway(Gateway):
    archive: Path = field(default_factory=Path)
    config_path: Path = field(default_factory=Path)
    env: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Every credential this gateway knows or is sent, in each form that could leak."""
        values = [TEAM_A.secret_key, TEAM_B.secret_key, NOBODY.secret_key, WRONG_SECRET]
        values += [TEAM_A.access_key, TEAM_B.access_key, NOBODY.access_key]
        for user in USERS:
            values += [v for v in (user.password, user.token) if v]
            values.append(user.headers()["Authorization"].split(" ", 1)[1])
        for entry in users_config():
            values += [entry[k] for k in ("password_hash", "token_hash") if k in entry]
        return values


def _s3(endpoint: str) -> dict[str, str]:
    return {"endpoint_url": endpoint, "region": "us-east-1"}


def teams_config(endpoint: str, workdir: Path) -> dict:
    """Three teams: keys from a secret file, from the environment, and a local archive."""
    secret_file = workdir / "vision-secret"
    secret_file.write_text(TEAM_A.secret_key + "\n")  # as Docker and Kubernetes write them
    return {
        "destinations": {
            "vision": {
                "uri": "s3://bucket-a/ml",
                **_s3(endpoint),
                "access_key_id": TEAM_A.access_key,
                "secret_access_key_file": str(secret_file),
            },
            # The secret comes from the environment (ENV_SECRET_NAME).
            "nlp": {
                "uri": "s3://bucket-b/nlp",
                **_s3(endpoint),
                "access_key_id": TEAM_B.access_key,
            },
            "archive": {"uri": str(workdir / "archive")},
        },
        "routes": [
            {"experiments": ["7", "70-79"], "destination": "vision"},
            {"experiments": ["2", "10-20"], "destination": "archive"},
            {"experiments": ["30-39"], "destination": "nlp"},
        ],
        "default_destination": "vision",
        "auth": {"users": users_config()},
    }


def refusing_config(endpoint: str, workdir: Path) -> dict:
    """Next to a working destination: a wrong secret, and one without keys of its own."""
    config = teams_config(endpoint, workdir)
    config["destinations"] = {
        "vision": config["destinations"]["vision"],
        "broken": {
            "uri": "s3://bucket-a/broken",
            **_s3(endpoint),
            "access_key_id": TEAM_A.access_key,
            "secret_access_key": WRONG_SECRET,
        },
        # botocore's default chain: here the environment's NOBODY keys.
        "env-chain": {"uri": "s3://bucket-a/env", **_s3(endpoint)},
    }
    config["routes"] = [
        {"experiments": ["99"], "destination": "broken"},
        {"experiments": ["50"], "destination": "env-chain"},
    ]
    config["log_format"] = "json"  # the secret-hygiene test reads both formats at debug level
    return config


def teams_env(endpoint: str, config: dict) -> dict[str, str]:
    """The environment's AWS keys belong to NOBODY: any fallback to them is refused."""
    env = clean_env(**s3_env(endpoint, NOBODY))
    if "nlp" in config["destinations"]:
        env[ENV_SECRET_NAME] = TEAM_B.secret_key
    return env


@contextlib.contextmanager
def running(
    endpoint: str, workdir: Path, make_config: Callable[[str, Path], dict]
) -> Iterator[TeamsGateway]:
    config_path = workdir / "gateway.yaml"
    config = make_config(endpoint, workdir)
    config_path.write_text(yaml.safe_dump(config))
    env = teams_env(endpoint, config)
    args = ["--config", str(config_path), "--log-level", "debug", "--s3.connect-timeout", "2"]
    process, url = start_gateway(workdir, args, env, name=make_config.__name__)
    try:
        yield TeamsGateway(
            process, url, "s3", archive=workdir / "archive", config_path=config_path, env=env
        )
    finally:
        process.stop()


def login(monkeypatch: pytest.MonkeyPatch, gateway: TeamsGateway, user: User) -> None:
    """What a user of the stock client sets; nothing is read from ~/.mlflow/credentials."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gateway.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("HOME", str(gateway.archive.parent))
    for name, value in (
        ("MLFLOW_TRACKING_USERNAME", user.name if user.password else None),
        ("MLFLOW_TRACKING_PASSWORD", user.password),
        ("MLFLOW_TRACKING_TOKEN", user.token),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def repository(kind: str, gateway: TeamsGateway, root: str):
    """The stock client's repository for `root` on the gateway, in either URI form."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    if kind == "mlflow-artifacts":
        host = gateway.url.removeprefix("http://")
        return MlflowArtifactsRepository(f"mlflow-artifacts://{host}/{root}")
    return HttpArtifactRepository(f"{gateway.api}/{root}")
