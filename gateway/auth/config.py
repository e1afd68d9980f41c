"""The `auth:` section: users, their hashed credentials and permissions per tenancy selector.

`Permission` lives in `actions` (re-exported here, where it has always been imported from).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from gateway import redact
from gateway.auth.actions import Permission
from gateway.auth.passwords import TOKEN_PREFIX, ScryptHash, TokenHash
from gateway.auth.source_config import OidcConfig, ProxyHeaders
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import Selector, conflicts

__all__ = ["AuthConfig", "MlflowAuthApp", "Permission", "ServiceAccount", "UserConfig"]


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


class ServiceAccount(BaseModel):
    """The gateway's own MLflow user, for its own calls (`check-config`): an ordinary user with
    no grants is enough. The password only from a file (read at start-up, never logged)."""

    model_config = {"extra": "forbid"}

    username: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    password_file: Path
    _password: SecretStr = PrivateAttr(default=SecretStr(""))

    @model_validator(mode="after")
    def _read(self) -> ServiceAccount:
        try:
            value = self.password_file.read_text().strip()  # a file's final newline is not in it
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read password_file '{self.password_file}'") from exc
        if not value:
            raise ValueError(f"password_file '{self.password_file}' is empty")
        redact.register(value)  # masked wherever it could appear, from the moment it is read
        self._password = SecretStr(value)
        return self

    def authorization(self) -> str:
        """The HTTP Basic header (RFC 7617) of the service account."""
        pair = f"{self.username}:{self._password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode()


class MlflowAuthApp(BaseModel):
    """`auth.provider: mlflow`: HTTP Basic credentials are the tracking server's users."""

    model_config = {"extra": "forbid"}

    url: str | None = Field(
        None, description="the tracking server running the auth app; default: --tracking-uri"
    )
    cache_seconds: float = Field(
        15.0, ge=0, le=300, description="how long an answer, refusals included, is remembered"
    )
    cache_entries: int = Field(8192, ge=1, le=1_000_000)
    timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="longest wait for the auth app; then 503, never an allow"
    )
    max_pending_checks: int = Field(64, ge=1, le=10_000)
    max_connections: int = Field(16, ge=1, le=1024)
    service_account: ServiceAccount | None = None


class AuthConfig(BaseModel):
    model_config = {"extra": "forbid"}

    provider: Literal["static", "mlflow"] = Field(
        "static", description="who checks HTTP Basic passwords of names not in `users`"
    )
    mlflow: MlflowAuthApp = Field(default_factory=MlflowAuthApp)
    oidc: OidcConfig | None = Field(None, description="Bearer JWTs from an OIDC issuer")
    proxy_headers: ProxyHeaders | None = Field(
        None, description="identity headers of an authenticating proxy in --trusted-proxies"
    )
    users: list[UserConfig] = Field(default_factory=list)
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

    @model_validator(mode="after")
    def _has_a_source(self) -> AuthConfig:
        others = self.provider == "mlflow" or self.oidc or self.proxy_headers
        if not self.users and not others:
            raise ValueError("auth needs users, provider: mlflow, oidc or proxy_headers")
        return self
