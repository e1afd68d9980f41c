"""gateway/auth/policy.py in an app: passthrough enforcement follows its setting, and waiting
credential checks are bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.auth.policy import SOURCES
from gateway.config import load_settings
from gateway.http.app import build_app
from gateway.http.guard import add
from gateway.http.routes.passthrough import Passthrough
from gateway.routing.destinations import Destinations
from gateway.stores.local import LocalStore
from tests.helpers.credentials import auth_config, basic


@pytest.mark.parametrize(
    ("enforce", "headers", "status"),
    [
        (True, {}, 401),
        (True, {"Authorization": basic("alice", "wrong")}, 401),
        (True, {"Authorization": "Bearer ci-token"}, 200),
        (False, {}, 200),
        (False, {"Authorization": "Basic upstream-credentials"}, 200),
    ],
)
def test_passthrough_enforcement_follows_the_setting(tmp_path, enforce, headers, status):
    """A stand-in passthrough route with the rule the real passthrough has."""
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    settings.auth = auth_config(enforce_on_passthrough=enforce)

    async def passthrough(request: web.Request) -> web.Response:
        return web.json_response({"experiments": []})

    async def run() -> tuple[int, dict]:
        app = build_app(settings, Destinations(LocalStore(str(tmp_path), 65536)))
        add(app, "GET", "/api/2.0/mlflow/experiments/search", passthrough, Passthrough())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/api/2.0/mlflow/experiments/search", headers=headers)
            return response.status, await response.json()

    got, body = asyncio.run(run())
    assert got == status
    if status == 401:
        assert body["error_code"] == "UNAUTHENTICATED"


def test_waiting_credential_checks_are_bounded_and_the_rest_told_to_retry(tmp_path):
    """64 uncached checks may run or wait; one more distinct credential gets 429 at once."""
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    settings.auth = auth_config()
    gate = threading.Event()
    url = "/api/2.0/mlflow-artifacts/artifacts/7/x.txt"

    async def run() -> tuple[int, dict, str | None, list[int]]:
        app = build_app(settings, Destinations(LocalStore(str(tmp_path), 65536)))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            authenticator = app[SOURCES].static
            real = authenticator._check

            def held(header: str):
                gate.wait(60)  # every check waits here until the extra request was answered
                return real(header)

            authenticator._check = held  # type: ignore[method-assign]

            def get(n: int):
                return client.get(url, headers={"Authorization": f"Bearer pending-{n}"})

            held = [asyncio.ensure_future(get(n)) for n in range(64)]
            try:
                for _ in range(200):  # bounded: until all 64 wait for their check
                    if len(authenticator._pending) == 64:
                        break
                    await asyncio.sleep(0.01)
                extra = await asyncio.wait_for(get(64), 10)
                answer = extra.status, await extra.json(), extra.headers.get("Retry-After")
            finally:
                gate.set()
            statuses = [(await response).status for response in held]
            return (*answer, statuses)

    status, body, retry_after, statuses = asyncio.run(run())
    assert (status, body["error_code"], retry_after) == (429, "RESOURCE_EXHAUSTED", "1")
    assert statuses == [401] * 64
