"""Who may do what: the checks the route rules (`http.guard`) and `access.store_for` make.

Credentials are resolved once per request in `identify`, and only for routes whose rule needs to
know the caller: the configured identity sources (`sources.Sources`: static users, the tracking
server's auth app, OIDC tokens, an authenticating proxy's headers) turn them into a `Caller`;
the rule then decides, so health checks stay open and passthrough routes can leave the
Authorization header to the upstream server. A caller of the auth app is confirmed by the auth
app's first answer about it (`authorize`, `verified`), so no request asks twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from gateway.auth.actions import Action
from gateway.auth.identity import Caller
from gateway.auth.sources import Sources
from gateway.errors import PermissionDenied, Unauthenticated
from gateway.tenancy import HEADER, TenancyKey

SOURCES = web.AppKey("identity_sources", Sources)
_CALLER = web.RequestKey("caller", Caller)
_REFUSED = web.RequestKey("credentials_refused", Unauthenticated)  # with the source's reason
_VERBS = {Action.READ: "read", Action.WRITE: "write", Action.DELETE: "delete"}


async def identify(request: web.Request, *, from_trusted_proxy: bool = False) -> None:
    """Resolves the credentials to a caller (or none) without deciding anything yet: an
    authenticating proxy's headers when the peer is a trusted proxy, else `Authorization`."""
    sources = request.app.get(SOURCES)
    if sources is None:
        return
    found = sources.from_proxy(request.headers) if from_trusted_proxy else None
    header = request.headers.get(hdrs.AUTHORIZATION)
    if found is None and header:
        try:
            found = await sources.identify(header)
        except Unauthenticated as exc:  # a refused token: anonymous, unless a caller is needed
            request[_REFUSED] = exc
    if found is not None:
        request[_CALLER] = found


def known_user(request: web.Request) -> Caller | None:
    """The caller whose credentials a source has confirmed, or None; never raises."""
    found = request.get(_CALLER)
    return found if found is not None and found.confirmed else None


def caller(request: web.Request) -> Caller | None:
    """The caller the credentials name; None when auth is off; 401 when auth is on and they name
    nobody. The auth app's callers are confirmed by the first question asked about them."""
    sources = request.app.get(SOURCES)
    if sources is None:
        return None
    found = request.get(_CALLER)
    if found is None and _REFUSED in request:
        raise request[_REFUSED]
    if found is None:
        sent = hdrs.AUTHORIZATION in request.headers
        raise Unauthenticated(
            "Invalid credentials"
            if sent
            else "Authentication required: send HTTP Basic credentials "
            "(MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) "
            "or a Bearer token (MLFLOW_TRACKING_TOKEN)",
            sources.realm,
        )
    return found


async def verified(request: web.Request) -> Caller | None:
    """`caller`, with its credentials confirmed (401 otherwise), for rules that ask nothing else."""
    found = caller(request)
    if found is not None:
        await found.verify()
    return found


async def confirm(request: web.Request) -> None:
    """For routes anyone may use that answer known callers more (`/ready`, server-info):
    credentials the auth app has not answered for yet are asked about now; nobody's credentials
    leave the request anonymous, as a wrong password does with the static users."""
    found = request.get(_CALLER)
    if found is None or found.confirmed:
        return
    try:
        await found.verify()
    except Unauthenticated:
        del request[_CALLER]


async def authorize(request: web.Request, key: TenancyKey, action: Action) -> None:
    """403 PERMISSION_DENIED unless the caller's permission on `key` grants `action`."""
    found = caller(request)
    if found is None:
        return
    decision = await found.allows(action, key, request.headers.get(HEADER))
    if not decision.allowed:
        raise PermissionDenied(
            f"User {found.name!r} may not {_VERBS[action]} artifacts of {key}: {decision.reason}"
        )


Visible = Callable[[TenancyKey], Awaitable[bool]]


def readable(request: web.Request) -> Visible:
    """Which keys the caller may see in a merged listing (all when auth is off)."""
    found = caller(request)
    workspace = request.headers.get(HEADER)

    async def visible(key: TenancyKey) -> bool:
        return found is None or (await found.allows(Action.READ, key, workspace)).allowed

    return visible


def may_reach_upstream(request: web.Request) -> bool:
    """Whether this caller's request may go to the tracking server (as the caller).

    Per-experiment checks of tracking calls stay with the upstream server; with
    `auth.enforce_on_passthrough: false` the gateway leaves authentication to it entirely.
    """
    sources = request.app.get(SOURCES)
    if sources is None or not sources.enforce_on_passthrough:
        return True
    return request.get(_CALLER) is not None


def enforce_on_passthrough(request: web.Request) -> None:
    """For tracking-server passthrough routes: 401 unless `may_reach_upstream`."""
    if not may_reach_upstream(request):
        caller(request)
