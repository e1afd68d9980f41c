"""The tracking server's own auth app (`mlflow server --app-name basic-auth`) decides.

The gateway reproduces MLflow's decision by asking MLflow the very question: each check is a
request to the tracking server's own `mlflow-artifacts` routes, with the caller's own
`Authorization` header, on a path that MLflow's auth app judges exactly as it judges the
caller's path (`artifact_probes`). Its `_before_request` (mlflow/server/auth/__init__.py)
answers 401 for credentials of nobody and 403 when `validate_can_*_experiment_artifact_proxy`
refuses; anything the handler answers after it (503 under `--no-serve-artifacts`, 400 for the
empty multipart request, 200 for an empty listing) means the validator let the caller through.
Admins, `default_permission`, user, role and workspace grants, `DENY` and the run / logged
model / trace tiers are all MLflow's own code deciding, so nothing is re-implemented here, the
gateway stores no credential, and it needs no rights of its own for these checks.

Answers are remembered per (HMAC of the header, action, path) for `cache_seconds`, refusals
included; what the tracking server did not answer (down, slow, a 5xx) is never an allow and
never remembered: the caller gets 503.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from dataclasses import dataclass

import aiohttp
import yarl

from gateway.auth.actions import Action
from gateway.auth.artifact_probes import Probe, probes_for
from gateway.auth.config import MlflowAuthApp
from gateway.auth.decisions import Decisions, Unavailable
from gateway.auth.identity import MLFLOW, Caller, Decision, Identity
from gateway.errors import Unauthenticated
from gateway.tenancy import HEADER, TenancyKey

log = logging.getLogger(__name__)

ALLOWED, DENIED, REFUSED = "allowed", "denied", "refused"
CURRENT_USER = "api/2.0/mlflow/users/current"  # mlflow/server/auth/routes.py GET_CURRENT_USER
# handlers._disable_unless_serve_artifacts: the auth app has let the request through by then.
_NOT_SERVING = "--no-serve-artifacts"
# What MLflow's artifact handlers answer once the validator has passed (routes in `probes_for`):
# a JSON object (`{}` or a listing; 400 INVALID_PARAMETER_VALUE for the empty multipart request).
_HANDLER_ANSWERS = frozenset({200, 400})


@dataclass(frozen=True)
class WhoAmI:
    name: str
    is_admin: bool


class AuthApp:
    """One client of the auth app; `start` inside the event loop, `close` at shutdown."""

    def __init__(self, config: MlflowAuthApp, base_url: str, realm: str) -> None:
        self.config, self.realm = config, realm
        self.base = yarl.URL(base_url.rstrip("/") + "/")
        self._key = os.urandom(32)
        limits = {
            "ttl": config.cache_seconds,
            "entries": config.cache_entries,
            "pending": config.max_pending_checks,
            "timeout": config.timeout_seconds,
        }
        self._who: Decisions[WhoAmI | None] = Decisions(**limits)
        self._valid: Decisions[bool] = Decisions(**limits)  # what any answer proved
        self._answers: Decisions[str] = Decisions(**limits)
        self._guarded: Decisions[bool] = Decisions(**{**limits, "ttl": 86400.0, "entries": 1})
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.config.max_connections),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),  # one caller's session must not serve another
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def caller(self, authorization: str, login: str) -> MlflowCaller:
        """A caller named `login`, whose password the tracking server has yet to confirm."""
        return MlflowCaller(self, authorization, Identity(login, MLFLOW))

    def _credential(self, authorization: str) -> bytes:
        return hmac.digest(self._key, authorization.encode("utf-8", "surrogateescape"), "sha256")

    async def who(self, authorization: str) -> WhoAmI | None:
        """The auth app's user for these credentials (GET users/current), or None."""
        key = self._credential(authorization)
        found = await self._who.get(key, lambda: self._current_user(authorization), "user check")
        self._valid.remember(key, found is not None)
        return found

    async def valid(self, authorization: str) -> bool:
        """Whether the auth app knows these credentials: from any earlier answer, else asked."""
        hit, known = self._valid.cached(self._credential(authorization))
        return bool(known) if hit else await self.who(authorization) is not None

    async def guarded(self) -> None:
        """Once: the tracking server runs the auth app. Without it every probe would be let
        through, so until it answers 401 to an anonymous `users/current` nothing is allowed."""
        await self._guarded.get("auth app", self._check_guarded, "auth app check")

    async def _check_guarded(self) -> bool:
        status, _ = await self._request("GET", self.base / CURRENT_USER, {})
        if status != 401:
            raise self._unavailable(
                f"anonymous users/current answered {status}, not 401: no basic-auth app at "
                f"{self.base} (mlflow server --app-name basic-auth)"
            )
        return True

    async def answer(
        self, authorization: str, action: Action, path: str, workspace: str | None = None
    ) -> str:
        """ALLOWED, DENIED or REFUSED (credentials of nobody): every probe must allow.

        `path` as the client named it and `workspace` its `X-MLFLOW-WORKSPACE` header, which
        MLflow's auth app reads too (`workspace_context.get_request_workspace`)."""
        await self.guarded()
        credential = self._credential(authorization)
        for probe in probes_for(action, path):
            outcome = await self._answers.get(
                (credential, action, probe.key, workspace),
                lambda probe=probe: self._ask(authorization, probe, workspace),
                "permission check",
            )
            self._valid.remember(credential, outcome != REFUSED)
            if outcome != ALLOWED:
                return outcome
        return ALLOWED

    async def _current_user(self, authorization: str) -> WhoAmI | None:
        await self.guarded()
        headers = {"Authorization": authorization}
        status, body = await self._request("GET", self.base / CURRENT_USER, headers)
        if status == 401:
            return None
        if status != 200 or not isinstance(user := _json_user(body), dict):
            raise self._unavailable(f"users/current answered {status}")
        return WhoAmI(str(user.get("username", "")), user.get("is_admin") is True)

    async def _ask(self, authorization: str, probe: Probe, workspace: str | None) -> str:
        url = self.base / probe.route
        if probe.query is not None:
            url = url.with_query(path=probe.query)
        headers = {"Authorization": authorization}
        if workspace is not None:
            headers[HEADER] = workspace
        status, body = await self._request(probe.method, url, headers, probe.json)
        if status == 401:
            return REFUSED
        if status == 403:
            return DENIED
        if (status in _HANDLER_ANSWERS and _json_object(body)) or (
            status == 503 and _NOT_SERVING in body
        ):
            return ALLOWED
        raise self._unavailable(f"{probe.method} {probe.route} answered {status}")

    async def _request(
        self, method: str, url: yarl.URL, headers: dict[str, str], body: object = None
    ) -> tuple[int, str]:
        assert self._session is not None, "AuthApp.start() has not run"
        try:
            async with self._session.request(method, url, headers=headers, json=body) as response:
                return response.status, (await response.content.read(4096)).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unavailable(type(exc).__name__) from exc

    def _unavailable(self, what: str) -> Unavailable:
        log.warning("the tracking server's auth app did not decide: %s", what)
        return Unavailable("The tracking server's auth app is unavailable; retry in a moment")


def _json_user(body: str) -> object:
    try:
        return json.loads(body).get("user")
    except (ValueError, AttributeError):
        return None


def _json_object(body: str) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


class MlflowCaller(Caller):
    """Basic credentials the tracking server checks; every answer is the auth app's."""

    def __init__(self, app: AuthApp, authorization: str, identity: Identity) -> None:
        self.app, self._authorization, self.identity = app, authorization, identity
        self.confirmed = False  # until the auth app has answered for these credentials

    def _refused(self) -> Unauthenticated:
        return Unauthenticated("Invalid credentials", self.app.realm)

    async def verify(self) -> None:
        if not await self.app.valid(self._authorization):
            raise self._refused()
        self.confirmed = True

    async def allows(self, action: Action, key: TenancyKey, workspace: str | None) -> Decision:
        outcome = await self.app.answer(self._authorization, action, key.stored, workspace)
        if outcome == REFUSED:
            raise self._refused()
        self.confirmed = True
        if outcome == DENIED:
            return Decision(False, "the tracking server's auth app does not grant it")
        return Decision(True)

    async def may_read_metrics(self) -> bool:
        """MLflow admins only: the metrics cover every experiment."""
        who = await self.app.who(self._authorization)
        if who is None:
            raise self._refused()
        self.confirmed = True
        return who.is_admin
