"""gateway/http/workspaces.py: a request's workspace, as MLflow's server resolves it, and what
the gateway does while the tracking server cannot say whether workspaces are on."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from gateway.config import WorkspacesConfig
from gateway.errors import ApiError
from gateway.http import workspaces
from gateway.upstream.client import UPSTREAM
from tests.helpers.mocked import app_trusting, request_from


class _NoUpstream:
    """Stands where the upstream client would be; any lookup is a test failure."""

    def get_json(self, *_args: object) -> None:
        raise AssertionError("the tracking server was asked")


def _app(config: WorkspacesConfig, *, upstream: bool = False, answer: dict | None = None):
    app = app_trusting()
    workspaces.install(app, config)
    if upstream:
        app[UPSTREAM] = _NoUpstream()  # type: ignore[assignment]
        cached = app[workspaces._CACHE]
        if answer is None:
            cached.failed = time.monotonic()  # it failed just now: not asked again
        else:
            cached.payload, cached.expires = answer, time.monotonic() + 60
    return app


def _resolve(app: web.Application, headers: dict[str, str]) -> str | None:
    return asyncio.run(workspaces.resolve(request_from("127.0.0.1", headers, app=app)))


def _refusal(app: web.Application, headers: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _resolve(app, headers)
    return caught.value


HEADER = {"X-MLFLOW-WORKSPACE": "team-a"}


def test_the_setting_decides_in_deployment_b():
    on = _app(WorkspacesConfig(enabled=True))
    assert _resolve(on, HEADER) == "team-a" and _resolve(on, {}) == "default"
    off = _app(WorkspacesConfig())
    assert _resolve(off, {}) is None
    refusal = _refusal(off, HEADER)
    assert (refusal.status, refusal.error_code) == (400, "FEATURE_DISABLED")


def test_the_tracking_servers_word_decides_in_deployment_a():
    on = _app(WorkspacesConfig(), upstream=True, answer={"workspaces_enabled": True})
    assert _resolve(on, HEADER) == "team-a"
    off = _app(WorkspacesConfig(), upstream=True, answer={"workspaces_enabled": False})
    assert _resolve(off, {}) is None and _refusal(off, HEADER).error_code == "FEATURE_DISABLED"


def test_while_the_tracking_server_cannot_say_only_the_stricter_rule_serves():
    unknown = _app(WorkspacesConfig(), upstream=True)
    assert _resolve(unknown, {}) == "default"  # legacy layout; workspaces/<other>/ refused
    refusal = _refusal(unknown, HEADER)
    assert (refusal.status, refusal.error_code) == (503, "TEMPORARILY_UNAVAILABLE")


def test_a_required_header_is_mlflows_refusal():
    refusal = _refusal(_app(WorkspacesConfig(enabled=True, require_header=True)), {})
    assert refusal.message.startswith("Active workspace is required for artifact operations.")
