"""Gateways with client auth on a local destination, with or without the echo upstream behind.

Users: owner (a Bearer token in the `scrypt-t$` format) may MANAGE experiment 7; stranger (a
password) is known but has no permission anywhere; neighbour may MANAGE all of workspace
`team-x` and asks in workspace `team-y` (the tenancy case: X's caller on Y's paths). The echo
upstream records what reached it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.teams import User

OWNER = User("owner", {"7": "MANAGE"}, token="owner-token-6f0c1e9a8b7d2c4e5f3a1b0c9d8e7f6a")
STRANGER = User("stranger", {}, password="stranger-pass-3b5d7f9a")
NEIGHBOUR = User("neighbour", {"workspace:team-x": "MANAGE"}, password="neighbour-pass-8e6c4a2f")
WRONG = {"Authorization": "Bearer not-anyones-token-5a4b3c2d1e0f9a8b7c6d5e4f"}
CASES = {
    "anonymous": {},
    "wrong": WRONG,
    "stranger": STRANGER.headers(),
    "neighbour": NEIGHBOUR.headers() | {"X-MLFLOW-WORKSPACE": "team-y"},
    "owner": OWNER.headers(),
}
SEED = "7/gw-7/artifacts/a.txt"  # where the echo upstream's run `gw-7` keeps `a.txt`
SEED_BYTES = b"seed of experiment 7"


@contextlib.contextmanager
def running(
    workdir: Path, tracking_uri: str | None, *, workspaces: bool | None = None, **auth: object
) -> Iterator[Gateway]:
    """A gateway with `auth` (plus the users above) and `SEED` in its destination;
    `workspaces`: the `workspaces.enabled` setting (absent: the gateway's default)."""
    root = workdir / "mlartifacts"
    (root / SEED).parent.mkdir(parents=True)
    (root / SEED).write_bytes(SEED_BYTES)
    (root / SEED).with_name("traces.json").write_bytes(b'{"spans": []}')  # trace `gw-7`'s data
    config = workdir / "gateway.yaml"
    users = [OWNER.config(), STRANGER.config(), NEIGHBOUR.config()]
    settings: dict = {"auth": {"users": users, **auth}}
    if workspaces is not None:
        settings["workspaces"] = {"enabled": workspaces}
    config.write_text(yaml.safe_dump(settings))
    args = ["--config", str(config), "--artifacts-destination", str(root)]
    if tracking_uri:
        args += ["--tracking-uri", tracking_uri]
    process, url = start_gateway(workdir, args, clean_env())
    try:
        yield Gateway(process, url, "local", root=root)
    finally:
        process.stop()


def received(echo_url: str) -> list[dict]:
    """What reached the echo upstream since `forget`."""
    response = requests.get(f"{echo_url}/_received", timeout=30)
    response.raise_for_status()
    return response.json()


def forget(echo_url: str) -> None:
    requests.delete(f"{echo_url}/_received", timeout=30).raise_for_status()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the destination, with its bytes (staged uploads included)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@dataclass
class Guarded:
    gateway: Gateway
    echo_url: str | None

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def root(self) -> Path:
        assert self.gateway.root is not None
        return self.gateway.root
