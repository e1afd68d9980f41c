"""Users and credentials for in-process auth tests: two users, and their headers."""

from __future__ import annotations

import base64

from gateway.auth.config import AuthConfig, UserConfig
from gateway.auth.passwords import hash_secret

ALICE_HASH = hash_secret("alice-secret")
CI_HASH = hash_secret("ci-token")


def basic(name: str, password: str) -> str:
    """The Authorization header of HTTP Basic (RFC 7617) for `name` and `password`."""
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def auth_config(**extra) -> AuthConfig:
    """alice (a password, READ everywhere) and ci (a token), with `extra` settings."""
    return AuthConfig(
        users=[
            UserConfig(name="alice", password_hash=ALICE_HASH, permissions={"*": "READ"}),
            UserConfig(name="ci", token_hash=CI_HASH),
        ],
        **extra,
    )
