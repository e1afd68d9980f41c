"""gateway/auth/tracking_auth.py: how an auth app's answers become decisions.

A small aiohttp app on 127.0.0.1 answers as MLflow's `_before_request` and handlers do; the
real auth app is in tests/test_mlflow_auth_app.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from gateway.auth.actions import Action
from gateway.auth.config import MlflowAuthApp
from gateway.auth.decisions import Unavailable
from gateway.auth.tracking_auth import AuthApp
from gateway.errors import Unauthenticated
from gateway.tenancy import key_of
from tests.helpers.credentials import basic

SEVEN = key_of("7/r/artifacts/x")
NOT_SERVING = "Endpoint disabled due to the mlflow server running with `--no-serve-artifacts`."


@contextlib.asynccontextmanager
async def auth_app(
    answer: Callable[[web.Request], web.Response], **config
) -> AsyncIterator[tuple[AuthApp, list[web.Request]]]:
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return await answer(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = AuthApp(MlflowAuthApp(**config), f"http://127.0.0.1:{port}", "realm")
    await client.start()
    try:
        yield client, seen
    finally:
        await client.close()
        await runner.cleanup()


def by_user(request: web.Request) -> web.Response:
    """alice may read, bob may also write; anyone else is nobody."""
    header = request.headers.get("Authorization")
    if header not in (basic("alice", "a"), basic("bob", "b")):
        return web.Response(status=401, text="You are not authenticated.")
    if request.path.endswith("/users/current"):
        name = "alice" if header == basic("alice", "a") else "bob"
        return web.json_response({"user": {"username": name, "is_admin": name == "bob"}})
    if request.method == "GET" or (request.method == "POST" and header == basic("bob", "b")):
        return web.Response(status=503, text=NOT_SERVING)
    return web.Response(status=403, text="Permission denied")


async def _answer(request: web.Request) -> web.Response:
    return by_user(request)


def test_answers_become_decisions_and_refused_credentials_are_unauthenticated():
    async def scenario() -> None:
        async with auth_app(_answer) as (client, seen):
            alice = client.caller(basic("alice", "a"), "alice")
            bob = client.caller(basic("bob", "b"), "bob")
            assert (await alice.allows(Action.READ, key_of("7/r/artifacts/x"), None)).allowed
            assert not (await alice.allows(Action.WRITE, key_of("7/r/artifacts/x"), None)).allowed
            assert (await bob.allows(Action.WRITE, key_of("7/r/artifacts/x"), None)).allowed
            assert not (await bob.allows(Action.DELETE, key_of("7"), None)).allowed
            assert (await bob.may_read_metrics(), await alice.may_read_metrics()) == (True, False)
            await alice.verify()
            assert alice.confirmed
            mallory = client.caller(basic("alice", "wrong"), "alice")
            with pytest.raises(Unauthenticated):
                await mallory.allows(Action.READ, key_of("7/x"), None)
            with pytest.raises(Unauthenticated):
                await mallory.verify()  # the probe's 401 is remembered: no second request
            asked = [r for r in seen if r.path == "/api/2.0/mlflow/users/current"]
            assert [r.headers.get("Authorization") is None for r in asked] == [True, False, False]
            assert all(r.headers.get("Cookie") is None for r in seen)

    asyncio.run(scenario())


def test_answers_are_remembered_per_credential_action_and_path():
    async def scenario() -> int:
        async with auth_app(_answer) as (client, seen):
            alice = client.caller(basic("alice", "a"), "alice")
            for _ in range(3):
                await asyncio.gather(
                    *[alice.allows(Action.READ, key_of("7/x"), None) for _ in range(10)]
                )
            await alice.allows(Action.READ, key_of("7/x"), "team-a")
            assert seen[-1].headers["X-MLFLOW-WORKSPACE"] == "team-a"
            return len(seen)

    assert asyncio.run(scenario()) == 1 + 2  # the auth app's presence, once; two questions


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_anything_but_an_auth_answer_is_unavailable_never_an_allow(status):
    async def failing(request: web.Request) -> web.Response:
        if "Authorization" not in request.headers:
            return web.Response(status=401, text="You are not authenticated.")
        return web.Response(status=status, text="upstream trouble")

    async def scenario() -> int:
        async with auth_app(failing) as (client, seen):
            caller = client.caller(basic("alice", "a"), "alice")
            for _ in range(2):
                with pytest.raises(Unavailable):
                    await caller.allows(Action.READ, key_of("7/x"), None)
            return len(seen)

    assert asyncio.run(scenario()) == 1 + 2  # a failure is not remembered


@pytest.mark.parametrize("status", [200, 404])
def test_a_tracking_server_without_the_auth_app_allows_nothing(status):
    """Without `--app-name basic-auth` every probe would pass: nothing is asked then."""

    async def plain(request: web.Request) -> web.Response:
        if request.path.endswith("/users/current"):
            return web.Response(status=status, text="{}")
        return web.json_response({})  # what a server without the auth app answers a listing

    async def scenario() -> list[str]:
        async with auth_app(plain) as (client, seen):
            caller = client.caller(basic("alice", "a"), "alice")
            for _ in range(2):
                with pytest.raises(Unavailable):
                    await caller.allows(Action.READ, key_of("7/x"), None)
            return [r.path for r in seen]

    assert asyncio.run(scenario()) == ["/api/2.0/mlflow/users/current"] * 2


def test_an_answer_that_is_not_mlflows_is_never_an_allow():
    async def html(request: web.Request) -> web.Response:
        if "Authorization" not in request.headers:
            return web.Response(status=401, text="You are not authenticated.")
        return web.Response(status=200, text="<html>a catch-all page</html>")

    async def scenario() -> None:
        async with auth_app(html) as (client, _):
            with pytest.raises(Unavailable):
                await client.caller(basic("a", "b"), "a").allows(Action.READ, SEVEN, None)

    asyncio.run(scenario())


def test_a_slow_auth_app_is_unavailable_after_the_timeout_and_a_flood_is_busy():
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            if "Authorization" not in request.headers:
                return web.Response(status=401, text="You are not authenticated.")
            await release.wait()
            return web.Response(status=503, text=NOT_SERVING)

        async with auth_app(slow, timeout_seconds=0.2, max_pending_checks=4) as (client, _):
            callers = [client.caller(basic(f"u{i}", "p"), f"u{i}") for i in range(6)]
            results = await asyncio.gather(
                *[c.allows(Action.READ, key_of("7/x"), None) for c in callers],
                return_exceptions=True,
            )
            kinds = sorted(type(r).__name__ for r in results)
            assert kinds == ["Busy"] * 2 + ["Unavailable"] * 4, kinds
            release.set()

    asyncio.run(scenario())


def test_an_unreachable_auth_app_is_unavailable():
    async def scenario() -> None:
        client = AuthApp(MlflowAuthApp(timeout_seconds=1), "http://127.0.0.1:9", "realm")
        await client.start()
        try:
            with pytest.raises(Unavailable):
                await client.caller(basic("a", "b"), "a").allows(Action.READ, key_of("7/x"), None)
        finally:
            await client.close()

    asyncio.run(scenario())


def test_64_concurrent_first_requests_of_distinct_users_cost_one_upstream_check_each():
    """A request's first question (the probe) also proves the password: no separate check."""

    async def anyone(request: web.Request) -> web.Response:
        if "Authorization" not in request.headers:
            return web.Response(status=401, text="You are not authenticated.")
        return web.Response(status=503, text=NOT_SERVING)

    async def scenario() -> tuple[int, int]:
        async with auth_app(anyone) as (client, seen):
            callers = [client.caller(basic(f"user{i}", "pw"), f"user{i}") for i in range(64)]
            for _ in range(3):  # the same download, three times over
                await asyncio.gather(
                    *[c.allows(Action.READ, key_of("7/r/artifacts/x"), None) for c in callers]
                )
            await asyncio.gather(*[c.verify() for c in callers[:8]])  # proven already
            return len(seen), len({r.headers.get("Authorization") for r in seen} - {None})

    assert asyncio.run(scenario()) == (1 + 64, 64)  # the auth app's presence, once
