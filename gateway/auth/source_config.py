"""The `auth.oidc` and `auth.proxy_headers` sections, and the grants of the names they vouch for.

Neither source holds a password: an OIDC token is checked against its issuer's keys, and an
authenticating proxy's headers are believed from `--trusted-proxies` peers only. Their names
and groups get permissions here, keyed like `auth.users[].permissions`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from gateway.auth.actions import Permission
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import Selector, conflicts

# Asymmetric only: a shared-secret (HS*) algorithm would let anyone holding the issuer's public
# key sign tokens (the HS/RS confusion, RFC 8725 section 2.1), and `none` signs nothing.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class Grants(BaseModel):
    """`users` and `groups`: name -> {selector or '*': permission}, selectors as in
    `auth.users[].permissions` (docs/tenancy.md); `metrics`: `user:<name>` / `group:<name>`
    entries that may read `/metrics`."""

    model_config = {"extra": "forbid"}

    users: dict[str, dict[str, Permission]] = Field(default_factory=dict)
    groups: dict[str, dict[str, Permission]] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list)

    @field_validator("users", "groups")
    @classmethod
    def _experiments(
        cls, value: dict[str, dict[str, Permission]]
    ) -> dict[str, dict[str, Permission]]:
        for name, grants in value.items():
            selectors = [(Selector.parse(k), repr(k)) for k in grants if k != ANY_EXPERIMENT]
            if problems := conflicts(selectors):
                raise ValueError(f"{name}: " + "; ".join(problems))
        return value

    @field_validator("metrics")
    @classmethod
    def _prefixed(cls, value: list[str]) -> list[str]:
        if wrong := [v for v in value if not v.startswith(("user:", "group:"))]:
            raise ValueError(f"metrics entries are user:<name> or group:<name>, not {wrong}")
        return value


class OidcConfig(BaseModel):
    """Bearer tokens that are JWTs signed by `issuer` (OIDC discovery, RFC 8414 / OpenID
    Connect Discovery 1.0), for `audience`. Kubernetes service-account tokens: the cluster's
    issuer URL, with `ca_file` for its certificate."""

    model_config = {"extra": "forbid"}

    issuer: str = Field(pattern=r"^https?://", description="the `iss` every token must carry")
    audience: list[str] = Field(min_length=1, description="a token's `aud` must name one")
    algorithms: list[str] = Field(["RS256", "ES256"], min_length=1)
    user_claim: str = Field("sub", min_length=1, description="the claim naming the user")
    groups_claim: str | None = Field("groups", description="a list (or a spaced string)")
    leeway_seconds: float = Field(30.0, ge=0, le=300, description="clock skew for exp/nbf/iat")
    jwks_uri: str | None = Field(None, description="the keys, instead of discovery's jwks_uri")
    jwks_cache_seconds: float = Field(300.0, gt=0, le=86400)
    jwks_min_refetch_seconds: float = Field(
        30.0, ge=1, le=3600, description="an unknown `kid` refetches at most this often"
    )
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    ca_file: Path | None = Field(None, description="CA bundle for the issuer's TLS")
    permissions: Grants = Field(default_factory=Grants)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        if refused := sorted(set(value) - ASYMMETRIC):
            raise ValueError(
                f"algorithms {refused} are not allowed: only {sorted(ASYMMETRIC)} "
                "(never none, never a shared-secret HS*)"
            )
        return value

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class ProxyHeaders(BaseModel):
    """An authenticating proxy (oauth2-proxy) in `--trusted-proxies` names the user in
    `X-Forwarded-User` / `X-Auth-Request-User` (or the e-mail headers), groups in
    `X-Forwarded-Groups` / `X-Auth-Request-Groups`."""

    model_config = {"extra": "forbid"}

    user_from: list[str] = Field(
        ["X-Forwarded-User", "X-Auth-Request-User", "X-Forwarded-Email", "X-Auth-Request-Email"],
        min_length=1,
        description="the first of these headers present names the user",
    )
    groups_from: list[str] = Field(["X-Forwarded-Groups", "X-Auth-Request-Groups"])
    permissions: Grants = Field(default_factory=Grants)
