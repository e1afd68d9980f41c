"""Which identity source vouches for a request's credentials, and the callers they make.

One router for every source the `auth` section configures, any combination:

- identity headers of an authenticating proxy (`auth.proxy_headers`), read only when the peer
  is one of `--trusted-proxies` (`proxy_identity.claims`); from anyone else they are ignored;
- `Authorization: Basic`: a name in `auth.users` is checked against its scrypt hash; any other
  name goes to the tracking server's auth app when `auth.provider: mlflow`;
- `Authorization: Bearer`: a JWT (three base64url parts) goes to OIDC when `auth.oidc` is set;
  anything else is a static token (`token_hash`).

A source's identity gets its permissions from the static configuration (users, and OIDC or
proxy users and groups: `GrantTable`) or from the auth app (`tracking_auth.MlflowCaller`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import BasicAuth

from gateway.auth.actions import Action
from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, Permission
from gateway.auth.identity import STATIC, Caller, Decision, Identity
from gateway.auth.proxy_identity import identity as proxy_identity
from gateway.auth.source_config import Grants
from gateway.auth.tracking_auth import AuthApp
from gateway.auth.users import User
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import Selector, SelectorMap, TenancyKey

if TYPE_CHECKING:
    from gateway.auth.oidc import Verifier

_NEEDS = {Action.READ: "READ", Action.WRITE: "EDIT", Action.DELETE: "MANAGE"}
_RANK = {
    Permission.NO_PERMISSIONS: 0,
    Permission.READ: 1,
    Permission.EDIT: 2,
    Permission.MANAGE: 3,
}


def refusal_reason(permission: Permission, action: Action) -> str:
    return f"permission {permission.value}, needs {_NEEDS[action]}"


class StaticCaller(Caller):
    """A user of `auth.users`: credentials checked already, permissions from the configuration."""

    def __init__(self, user: User) -> None:
        self.user, self.identity = user, Identity(user.name, STATIC)

    async def verify(self) -> None:
        return None

    async def allows(self, action: Action, key: TenancyKey, workspace: str | None) -> Decision:
        permission = self.user.permission_on(key)
        return Decision(permission.allows(action), refusal_reason(permission, action))

    async def may_read_metrics(self) -> bool:
        return self.user.metrics


class GrantTable:
    """Permissions of names a token or a proxy vouches for: per user and per group, keyed like
    `auth.users[].permissions` (tenancy selectors, `'*'` the default), the most generous of
    every entry that applies (MLflow's `max_permission`)."""

    def __init__(
        self,
        users: Mapping[str, Mapping[str, Permission]],
        groups: Mapping[str, Mapping[str, Permission]],
        metrics: frozenset[str] = frozenset(),
    ) -> None:
        self._users = {name: _selectors(grants) for name, grants in users.items()}
        self._groups = {name: _selectors(grants) for name, grants in groups.items()}
        self._metrics = metrics

    @classmethod
    def of(cls, grants: Grants) -> GrantTable:
        return cls(grants.users, grants.groups, frozenset(grants.metrics))

    def permission(self, identity: Identity, key: TenancyKey) -> Permission:
        tables = [self._users.get(identity.name)]
        tables += [self._groups.get(group) for group in sorted(identity.groups)]
        found = [table.get(key) for table in tables if table is not None]
        return max(found, key=_RANK.__getitem__, default=Permission.NO_PERMISSIONS)

    def may_read_metrics(self, identity: Identity) -> bool:
        names = {f"user:{identity.name}", *(f"group:{group}" for group in identity.groups)}
        return bool(names & self._metrics)


def _selectors(grants: Mapping[str, Permission]) -> SelectorMap[Permission]:
    default = Permission(grants.get(ANY_EXPERIMENT, Permission.NO_PERMISSIONS))
    items = ((Selector.parse(k), Permission(v)) for k, v in grants.items() if k != ANY_EXPERIMENT)
    return SelectorMap(items, default)


class GrantedCaller(Caller):
    """An identity a token or a proxy vouched for, with permissions from a `GrantTable`."""

    def __init__(self, identity: Identity, grants: GrantTable) -> None:
        self.identity, self.grants = identity, grants

    async def verify(self) -> None:
        return None

    async def allows(self, action: Action, key: TenancyKey, workspace: str | None) -> Decision:
        permission = self.grants.permission(self.identity, key)
        return Decision(permission.allows(action), refusal_reason(permission, action))

    async def may_read_metrics(self) -> bool:
        return self.grants.may_read_metrics(self.identity)


class Sources:
    """Every configured source; `start`/`close` inside the event loop (the auth app's client)."""

    def __init__(self, config: AuthConfig, tracking_uri: str | None) -> None:
        self.config = config
        self.realm = config.realm
        self.enforce_on_passthrough = config.enforce_on_passthrough
        self.static = Authenticator(config)
        self.auth_app: AuthApp | None = None
        if config.provider == "mlflow":
            url = config.mlflow.url or tracking_uri
            if not url:
                raise ValueError("auth.provider: mlflow needs auth.mlflow.url or --tracking-uri")
            self.auth_app = AuthApp(config.mlflow, url, config.realm)
        self.oidc: Verifier | None = None
        if config.oidc:  # PyJWT and cryptography are loaded only by gateways that verify JWTs
            from gateway.auth.oidc import Verifier

            self.oidc = Verifier(config.oidc, config.realm)
        self._oidc_grants = GrantTable.of(config.oidc.permissions) if config.oidc else None
        proxy = config.proxy_headers
        self._proxy_grants = GrantTable.of(proxy.permissions) if proxy else None

    async def start(self) -> None:
        for part in (self.auth_app, self.oidc):
            if part is not None:
                await part.start()

    async def close(self) -> None:
        for part in (self.auth_app, self.oidc):
            if part is not None:
                await part.close()

    def from_proxy(self, headers: Mapping[str, str]) -> Caller | None:
        """The proxy's user, for a request from a trusted proxy only (the caller checks)."""
        if self.config.proxy_headers is None or self._proxy_grants is None:
            return None
        found = proxy_identity(headers, self.config.proxy_headers)
        return GrantedCaller(found, self._proxy_grants) if found is not None else None

    async def identify(self, authorization: str) -> Caller | None:
        """The caller these credentials name, or None; `Busy` when too many checks wait,
        `oidc.InvalidToken` (401 with the reason) for a JWT the issuer did not sign."""
        scheme, _, value = authorization.strip().partition(" ")
        token = value.strip()
        oidc, grants = self.oidc, self._oidc_grants
        if scheme.lower() == "bearer" and oidc and grants and oidc.accepts(token):
            return GrantedCaller(await oidc.identify(token), grants)
        if scheme.lower() == "basic" and self.auth_app is not None:
            login = _basic_login(authorization)
            if login is not None and login not in self.static.users:
                return self.auth_app.caller(authorization, login)
        user = await self.static.identify(authorization)
        return StaticCaller(user) if user is not None else None


def _basic_login(authorization: str) -> str | None:
    try:
        return BasicAuth.decode(authorization.strip(), encoding="utf-8").login
    except ValueError:
        return None
