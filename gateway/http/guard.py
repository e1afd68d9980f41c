"""One access decision per request, made from the URL before a handler runs or a body is read.

Every route is registered through `add` with a rule, and the `guard` middleware applies the
matched route's rule; a request no route matches gets the app's `UNMATCHED` rule (the
passthrough's, when there is an upstream). So no handler has to remember a check, a route
without a rule stops start-up (`require_rules`), and tests walk `RULES` over the route table.
Handlers still call `access.store_for`, which repeats the check on the tenancy key of the path
they actually act on (the multipart target, a tracking location once it is looked up). Checks
are async, so a permission source that asks an upstream fits without changing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.auth.actions import Action
from gateway.auth.policy import (
    SOURCES,
    authorize,
    caller,
    confirm,
    enforce_on_passthrough,
    identify,
    known_user,
    verified,
)
from gateway.errors import (
    ApiError,
    MethodRefused,
    PermissionDenied,
    Unauthenticated,
)
from gateway.forwarded import from_trusted_proxy
from gateway.http.access import query_path, url_path
from gateway.http.aiohttp_internals import expect_100_continue
from gateway.http.workspaces import resolve
from gateway.links.signing import Fields
from gateway.links.urls import LINKS
from gateway.metrics import child, collectors
from gateway.tenancy import key_of

# What MLflow's tracking server and the gateway serve: CONNECT, TRACE and the rest never pass.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Rule:
    """Who may use a route. `identifies`: the caller's credentials are checked before `check`."""

    identifies = True

    async def check(self, request: web.Request) -> None:
        """Raises the refusal (401, 403, ...); returning lets the handler run."""


class Open(Rule):
    """Anyone, and credentials are not even read: liveness, readiness, version."""

    identifies = False


class Identified(Rule):
    """Anyone; credentials are checked when sent and the handler answers by them (server-info)."""

    async def check(self, request: web.Request) -> None:
        await confirm(request)


class Signed(Rule):
    """A link the gateway signed: the signature over `fields` is the permission."""

    identifies = False

    def __init__(self, fields: Callable[[web.Request], Fields]) -> None:
        self.fields = fields

    async def check(self, request: web.Request) -> None:
        request.app[LINKS].signer.verify(self.fields(request), request.query)


class Artifact(Rule):
    """`action` on the tenancy key of the stored path the URL names: the route's path
    (`?path=` when `listing` and the route's path is empty), in the request's workspace. A
    workspace's top level and unsafe paths need a known caller first."""

    def __init__(self, action: Action, *, listing: bool = False) -> None:
        self.action, self.listing = action, listing

    async def check(self, request: web.Request) -> None:
        caller(request)  # 401 first: anonymous callers learn nothing, not even a path's fault
        await resolve(request)
        if self.listing and not request.match_info.get("path"):
            path = query_path(request)
        else:
            path, _ = url_path(request)
        key = key_of(path)
        if key.experiment:
            await authorize(request, key, self.action)
        else:
            await verified(request)  # a merged listing asks per experiment, maybe of none


class Tracking(Rule):
    """A tracking route that looks an artifact location up on the upstream: the passthrough's
    rule now (no anonymous lookup when `enforce_on_passthrough`). The handler names the action
    in its `store_for` call once the location turns out to be the gateway's; any other
    location is passed through."""

    async def check(self, request: web.Request) -> None:
        enforce_on_passthrough(request)
        await resolve(request)  # the location found is scoped to it


class MetricsReader(Rule):
    """A known user with `metrics: true`, a `metrics` grant (OIDC, proxy) or the auth app's
    admin flag (`metrics.require_permission`): the metrics cover every experiment, so no
    per-experiment permission grants them."""

    async def check(self, request: web.Request) -> None:
        user = caller(request)
        if user is not None and not await user.may_read_metrics():
            raise PermissionDenied(
                f"User {user.name!r} may not read metrics: needs metrics: true (a static user), "
                "a metrics entry (OIDC, proxy) or the auth app's admin flag"
            )


RULES = web.AppKey("rules", dict)  # route -> Rule
UNMATCHED = web.AppKey("unmatched_rule", Rule)
_REFUSAL = web.RequestKey("access_refusal", object)  # the decision, once made: None = allowed


def add(
    app: web.Application, methods: str | Iterable[str], path: str, handler: Handler, rule: Rule
) -> None:
    """Registers `handler` for each method with `rule`; the only way routes are added."""
    rules = app.setdefault(RULES, {})
    for method in [methods] if isinstance(methods, str) else methods:
        rules[app.router.add_route(method, path, handler, expect_handler=_expect)] = rule


async def require_rules(app: web.Application) -> None:
    """At start-up: every route has a rule (an `add_route` outside `add` would have none)."""
    rules = app.get(RULES, {})
    if missing := [r for r in app.router.routes() if r not in rules]:
        names = ", ".join(f"{r.method} {r.resource and r.resource.canonical}" for r in missing)
        raise RuntimeError(f"routes without an access rule: {names}")


def _rule(request: web.Request) -> Rule | None:
    match_info = request.match_info
    if match_info.http_exception is not None:
        return request.app.get(UNMATCHED)  # None: the 404 or 405 follows
    return request.app[RULES][match_info.route]


async def _decide(request: web.Request) -> Exception | None:
    """The refusal, or None; made once per request (the Expect handler may have made it)."""
    if _REFUSAL in request:
        return request[_REFUSAL]
    refusal: Exception | None = None
    try:
        if request.method not in METHODS:
            raise MethodRefused(request.method)
        if (rule := _rule(request)) is not None:
            if rule.identifies:
                await identify(request, from_trusted_proxy=from_trusted_proxy(request))
            await rule.check(request)
    except (ApiError, web.HTTPException) as exc:
        refusal = exc
    request[_REFUSAL] = refusal
    _count_outcome(request, refusal)
    return refusal


def _count_outcome(request: web.Request, refusal: Exception | None) -> None:
    """ok: a known user was let in; unauthenticated / denied: a 401 / 403 on credentials."""
    if SOURCES not in request.app:
        return
    if isinstance(refusal, Unauthenticated):
        outcome = "unauthenticated"
    elif isinstance(refusal, PermissionDenied) and known_user(request) is not None:
        outcome = "denied"
    elif refusal is None and known_user(request) is not None:
        outcome = "ok"
    else:
        return
    child(collectors().auth, outcome).inc()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (refusal := await _decide(request)) is not None:
        raise refusal
    return await handler(request)


async def _expect(request: web.Request) -> None:
    """`Expect: 100-continue` is answered only for allowed requests, so a refused client gets
    its 401/403 without sending the body; the middleware then answers it."""
    if await _decide(request) is None:
        await expect_100_continue(request)
