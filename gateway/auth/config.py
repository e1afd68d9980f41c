"""The `auth:` section: users, their hashed credentials and permissions per tenancy selector."""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from gateway.auth.actions import Action
from gateway.auth.passwords import TOKEN_PREFIX, ScryptHash, TokenHash
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import Selector, conflicts


class Permission(str, enum.Enum):
    """MLflow's permission names, with MLflow's meaning."""

    READ = "READ"
    EDIT = "EDIT"
    MANAGE = "MANAGE"
    NO_PERMISSIONS = "NO_PERMISSIONS"

    def allows(self, action: Action) -> bool:
        return action in _GRANTS[self]


_GRANTS = {
    Permission.READ: {Action.READ},
    Permission.EDIT: {Action.READ, Action.WRITE},
    Permission.MANAGE: {Action.READ, Action.WRITE, Action.DELETE},
    Permission.NO_PERMISSIONS: set(),
}


class UserConfig(BaseModel):
    """A caller: Basic with `password_hash`, Bearer with `token_hash`, or both."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    password_hash: SecretStr | None = None
    token_hash: SecretStr | None = None
    permissions: dict[str, Permission] = Field(default_factory=dict)
    metrics: bool = Field(False, description="may scrape /metrics when it requires permission")

    @field_validator("password_hash")
    @classmethod
    def _is_a_password_hash(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            if value.get_secret_value().strip().startswith(TOKEN_PREFIX + "$"):
                raise ValueError("a token hash (scrypt-t$...) belongs in token_hash")
            ScryptHash.parse(value.get_secret_value())
        return value

    @field_validator("token_hash")
    @classmethod
    def _is_a_token_hash(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            TokenHash.parse(value.get_secret_value())
        return value

    @field_validator("permissions")
    @classmethod
    def _selectors(cls, value: dict[str, Permission]) -> dict[str, Permission]:
        """Keys as docs/tenancy.md writes them: `*`, `7`, `10-20`, `prefix:team-x/`,
        `workspace:team-a`, `workspace:team-a:7`, `workspace:team-a:prefix:team-x/`."""
        selectors = [(Selector.parse(k), repr(k)) for k in value if k != ANY_EXPERIMENT]
        if problems := conflicts(selectors):
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _has_a_credential(self) -> UserConfig:
        if self.password_hash is None and self.token_hash is None:
            raise ValueError(f"user {self.name!r} needs a password_hash or a token_hash")
        return self

    def secrets(self) -> list[str]:
        return [h.get_secret_value() for h in (self.password_hash, self.token_hash) if h]


class AuthConfig(BaseModel):
    model_config = {"extra": "forbid"}

    users: list[UserConfig] = Field(min_length=1)
    enforce_on_passthrough: bool = Field(
        True, description="require a known user on tracking-server passthrough routes too"
    )
    realm: str = Field("mlflow-artifact-gateway", pattern=r'^[^"\\\r\n]*$')
    cache_seconds: float = Field(
        300.0, ge=0, description="how long a verified credential is remembered (0 = never)"
    )

    @field_validator("users")
    @classmethod
    def _unique_names(cls, users: list[UserConfig]) -> list[UserConfig]:
        names = [user.name for user in users]
        if duplicated := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"user names must be unique: {', '.join(duplicated)}")
        return users
