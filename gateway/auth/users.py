"""A configured user as the gateway checks it: hashed credentials and a permission lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from gateway.auth.actions import Action
from gateway.auth.config import Permission, UserConfig
from gateway.auth.passwords import ScryptHash, TokenHash
from gateway.experiments import ANY_EXPERIMENT, ExperimentRange, RangeMap

Hash = TypeVar("Hash", ScryptHash, TokenHash)


@dataclass(frozen=True)
class User:
    name: str
    password: ScryptHash | None
    token: TokenHash | None
    default: Permission
    permissions: RangeMap[Permission]
    metrics: bool = False  # may read /metrics (not per experiment: it covers all of them)

    @classmethod
    def from_config(cls, config: UserConfig) -> User:
        """`'*'` is the user's default; a user without one has NO_PERMISSIONS elsewhere."""
        return cls(
            name=config.name,
            password=_parsed(config.password_hash, ScryptHash.parse),
            token=_parsed(config.token_hash, TokenHash.parse),
            default=config.permissions.get(ANY_EXPERIMENT, Permission.NO_PERMISSIONS),
            permissions=RangeMap(
                (ExperimentRange.parse(key), value)
                for key, value in config.permissions.items()
                if key != ANY_EXPERIMENT
            ),
            metrics=config.metrics,
        )

    def permission_on(self, experiment: str) -> Permission:
        found = self.permissions.get(experiment)
        return self.default if found is None else found

    def may(self, action: Action, experiment: str) -> bool:
        return self.permission_on(experiment).allows(action)


def _parsed(secret: SecretStr | None, parse: Callable[[str], Hash]) -> Hash | None:
    return parse(secret.get_secret_value()) if secret is not None else None
