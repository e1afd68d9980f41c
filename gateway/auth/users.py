"""A configured user as the gateway checks it: hashed credentials and a permission lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from gateway.auth.actions import Action
from gateway.auth.config import Permission, UserConfig
from gateway.auth.passwords import ScryptHash, TokenHash
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import Selector, SelectorMap, TenancyKey

Hash = TypeVar("Hash", ScryptHash, TokenHash)


@dataclass(frozen=True)
class User:
    name: str
    password: ScryptHash | None
    token: TokenHash | None
    permissions: SelectorMap[Permission]
    metrics: bool = False  # may read /metrics (not per experiment: it covers all of them)

    @classmethod
    def from_config(cls, config: UserConfig) -> User:
        """`'*'` is the user's default; a user without one has NO_PERMISSIONS elsewhere."""
        return cls(
            name=config.name,
            password=_parsed(config.password_hash, ScryptHash.parse),
            token=_parsed(config.token_hash, TokenHash.parse),
            permissions=SelectorMap(
                (
                    (Selector.parse(key), value)
                    for key, value in config.permissions.items()
                    if key != ANY_EXPERIMENT
                ),
                config.permissions.get(ANY_EXPERIMENT, Permission.NO_PERMISSIONS),
            ),
            metrics=config.metrics,
        )

    @property
    def default(self) -> Permission:
        """What `'*'` grants: every key no selector names."""
        return self.permissions.default

    def permission_on(self, key: TenancyKey) -> Permission:
        """The most specific selector's permission (docs/tenancy.md), else `'*'`'s."""
        return self.permissions.get(key)

    def may(self, action: Action, key: TenancyKey) -> bool:
        return self.permission_on(key).allows(action)


def _parsed(secret: SecretStr | None, parse: Callable[[str], Hash]) -> Hash | None:
    return parse(secret.get_secret_value()) if secret is not None else None
