"""Who may do what: the checks the route rules (`http.guard`) and `access.store_for` make.

Credentials are checked once per request in `identify` (scrypt is async, in a thread), and only
for routes whose rule needs to know the caller; the rule then decides, so health checks stay
open and passthrough routes can leave the Authorization header to the upstream server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from gateway.auth.actions import Action
from gateway.auth.authenticator import Authenticator
from gateway.auth.users import User
from gateway.errors import PermissionDenied, Unauthenticated
from gateway.tenancy import TenancyKey

AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
_USER = web.RequestKey("user", User | None)
_NEEDS = {Action.READ: "READ", Action.WRITE: "EDIT", Action.DELETE: "MANAGE"}
_VERBS = {Action.READ: "read", Action.WRITE: "write", Action.DELETE: "delete"}


async def identify(request: web.Request) -> None:
    """Resolves the Authorization header to a user (or None) without deciding anything yet."""
    authenticator = request.app.get(AUTHENTICATOR)
    header = request.headers.get(hdrs.AUTHORIZATION)
    if authenticator is not None and header:
        request[_USER] = await authenticator.identify(header)


def known_user(request: web.Request) -> User | None:
    """The authenticated user, or None (anonymous, unknown, or auth off); never raises."""
    return request.get(_USER)


def caller(request: web.Request) -> User | None:
    """The authenticated user; None when auth is off; 401 when auth is on and nobody is known."""
    authenticator = request.app.get(AUTHENTICATOR)
    if authenticator is None:
        return None
    user = request.get(_USER)
    if user is None:
        sent = hdrs.AUTHORIZATION in request.headers
        raise Unauthenticated(
            "Invalid credentials"
            if sent
            else "Authentication required: send HTTP Basic credentials "
            "(MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) "
            "or a Bearer token (MLFLOW_TRACKING_TOKEN)",
            authenticator.realm,
        )
    return user


async def authorize(request: web.Request, key: TenancyKey, action: Action) -> None:
    """403 PERMISSION_DENIED unless the caller's permission on `key` grants `action`.

    Async so that permission sources needing an upstream lookup fit behind the same call.
    """
    user = caller(request)
    if user is None or user.may(action, key):
        return
    raise PermissionDenied(
        f"User {user.name!r} may not {_VERBS[action]} artifacts of {key}: "
        f"permission {user.permission_on(key).value}, needs {_NEEDS[action]}"
    )


Visible = Callable[[TenancyKey], Awaitable[bool]]


def readable(request: web.Request) -> Visible:
    """Which keys the caller may see in a merged listing (all when auth is off)."""
    user = caller(request)

    async def visible(key: TenancyKey) -> bool:
        return user is None or user.may(Action.READ, key)

    return visible


def may_reach_upstream(request: web.Request) -> bool:
    """Whether this caller's request may go to the tracking server (as the caller).

    Per-experiment checks of tracking calls stay with the upstream server; with
    `auth.enforce_on_passthrough: false` the gateway leaves authentication to it entirely.
    """
    authenticator = request.app.get(AUTHENTICATOR)
    if authenticator is None or not authenticator.enforce_on_passthrough:
        return True
    return request.get(_USER) is not None


def enforce_on_passthrough(request: web.Request) -> None:
    """For tracking-server passthrough routes: 401 unless `may_reach_upstream`."""
    if not may_reach_upstream(request):
        caller(request)
