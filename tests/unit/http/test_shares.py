"""gateway/http/shares.py: whose share a request uses, and the limit on a share's requests in
flight (issue 23: one user's requests must not take what every user needs)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import web

from gateway.auth.users import User
from gateway.errors import Busy
from gateway.http.shares import fair_share, share_key, share_of
from gateway.stores.budget import current_share
from tests.helpers.mocked import request_from


def test_an_anonymous_caller_is_its_address_a_trusted_proxys_client_included():
    assert share_key(request_from("10.0.0.5")) == "addr:10.0.0.5"
    forwarded = request_from("127.0.0.1", {"X-Forwarded-For": "10.9.9.9"}, trusted=["127.0.0.1"])
    assert share_key(forwarded) == "addr:10.9.9.9"
    spoofed = request_from("10.0.0.5", {"X-Forwarded-For": "10.9.9.9"})
    assert share_key(spoofed) == "addr:10.0.0.5"


def test_each_part_link_is_a_share_of_its_own():
    path = "/api/2.0/mlflow-artifacts/mpu/part/1/x.bin"
    first = request_from("10.0.0.5", path=f"{path}?upload_id=u1&part_number=1&signature=s")
    second = request_from("10.0.0.5", path=f"{path}?upload_id=u1&part_number=2&signature=s")
    assert share_key(first) != share_key(second)
    assert share_key(first).startswith("link:") and "10.0.0.5" not in share_key(first)


def test_a_known_user_is_its_name_whatever_its_address(monkeypatch):
    user = mock.Mock(spec=User)
    user.name = "alice"
    monkeypatch.setattr("gateway.http.shares.known_user", lambda request: user)
    assert share_key(request_from("10.0.0.5")) == share_key(request_from("10.0.0.6"))
    assert share_key(request_from("10.0.0.5")) == "user:alice"


def test_a_share_past_its_requests_in_flight_gets_429_and_others_do_not():
    async def run() -> None:
        middleware, release = fair_share(2), asyncio.Event()
        seen: list[str | None] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            share = share_of(request)
            seen.append(current_share().key if current_share() else None)
            assert share is not None and current_share() is share
            await release.wait()
            return web.Response()

        held = [
            asyncio.create_task(middleware(request_from("10.0.0.5"), handler)) for _ in range(2)
        ]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await middleware(request_from("10.0.0.5"), handler)
        other = asyncio.create_task(middleware(request_from("10.0.0.6"), handler))
        await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(asyncio.gather(*held, other), 5)
        assert seen == ["addr:10.0.0.5", "addr:10.0.0.5", "addr:10.0.0.6"]
        assert current_share() is None  # unbound after the request
        await middleware(request_from("10.0.0.5"), handler)  # the count came back down

    asyncio.run(run())
