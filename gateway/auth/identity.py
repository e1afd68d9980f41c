"""Who a request comes from, whichever source vouched for it, and what that caller may do.

Every identity source (the static users, the tracking server's auth app, OIDC tokens, an
authenticating proxy's headers) turns a request's credentials into a `Caller`: an `Identity`
(name, source, groups: what the access log and the messages show) and the answers to the
questions the guard asks. Static users answer from the configuration at once; the auth app
asks the tracking server, so the answers are async, and a caller whose credentials have not
been confirmed yet may still turn out to be nobody (`verify` raises `Unauthenticated`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from gateway.auth.actions import Action
from gateway.tenancy import TenancyKey

STATIC, MLFLOW, OIDC, PROXY = "static", "mlflow", "oidc", "proxy"


@dataclass(frozen=True)
class Identity:
    """`name` as the source knows it; `groups` only from sources that have them (OIDC, proxy)."""

    name: str
    source: str
    groups: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Decision:
    """`reason` completes "User 'x' may not read artifacts of experiment '7': ..."."""

    allowed: bool
    reason: str = ""


class Caller(abc.ABC):
    """An identified request's questions, asked by the guard and `access.store_for`."""

    identity: Identity
    confirmed = True  # the source has checked the credentials (the auth app: once it answered)

    @property
    def name(self) -> str:
        return self.identity.name

    @abc.abstractmethod
    async def verify(self) -> None:
        """Raises `Unauthenticated` if the credentials turn out to be nobody's; the sources
        that check them up front (static, OIDC, proxy) have nothing left to do."""

    @abc.abstractmethod
    async def allows(self, action: Action, key: TenancyKey, workspace: str | None) -> Decision:
        """May the caller do `action` on the artifacts of `key` (its stored path in
        `key.stored`), asked with `workspace` (the request's `X-MLFLOW-WORKSPACE`, or None)?"""

    @abc.abstractmethod
    async def may_read_metrics(self) -> bool:
        """`/metrics` under `metrics.require_permission` covers every experiment."""
