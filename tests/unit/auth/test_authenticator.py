"""gateway/auth/authenticator.py: who a header names, what each check costs, and its cache."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time

import pytest

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, UserConfig
from gateway.auth.passwords import hash_secret, hash_token
from tests.helpers.credentials import auth_config, basic


def test_authenticator_knows_basic_and_bearer_callers_only():
    async def identify_all() -> list[str | None]:
        authenticator = Authenticator(auth_config())
        headers = [
            basic("alice", "alice-secret"),
            "Bearer ci-token",
            "bearer   ci-token  ",
            basic("alice", "wrong"),
            basic("ci", "ci-token"),  # a token is not a password
            "Bearer alice-secret",  # nor a password a token
            basic("mallory", "alice-secret"),
            "Basic ****",
            "Bearer",
            "Negotiate abc",
            "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),  # not UTF-8
            "Bearer \udcff\udcfe",  # raw bytes in the header, as aiohttp passes them on
        ]
        found = [await authenticator.identify(header) for header in headers]
        return [user.name if user else None for user in found]

    names = asyncio.run(identify_all())
    assert names == ["alice", "ci", "ci", *[None] * 9]


def counted(authenticator: Authenticator) -> list[str]:
    """Records each header the real check runs for (each costs a scrypt)."""
    checked: list[str] = []
    real_check = authenticator._check

    def counting(header: str):
        checked.append(header)
        return real_check(header)

    authenticator._check = counting  # type: ignore[method-assign]
    return checked


def test_cache_remembers_each_header_and_measures_the_cost(measurements):
    async def timed() -> tuple[float, float, int]:
        authenticator = Authenticator(auth_config())
        checked = counted(authenticator)
        header = basic("alice", "alice-secret")
        start = time.perf_counter()
        first = await asyncio.gather(*(authenticator.identify(header) for _ in range(8)))
        uncached = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(100):
            assert (await authenticator.identify(header)) is first[0]
        cached = (time.perf_counter() - start) / 100
        assert {user.name for user in first if user} == {"alice"}
        await authenticator.identify(basic("alice", "wrong"))
        await authenticator.identify(basic("alice", "wrong"))
        return uncached, cached, len(checked)

    uncached, cached, checks = asyncio.run(timed())
    assert checks == 2  # eight concurrent first uses share one check; a failure is remembered too
    measurements.append(
        f"auth: first request with a credential {uncached * 1000:.1f} ms (scrypt N=2^14, r=8), "
        f"later requests {cached * 1e6:.1f} µs (cached)"
    )


def test_cache_can_be_turned_off():
    async def run() -> int:
        authenticator = Authenticator(auth_config(cache_seconds=0))
        checked = counted(authenticator)
        for _ in range(2):
            await authenticator.identify("Bearer ci-token")
        return len(checked)

    assert asyncio.run(run()) == 2


def token_users(count: int, make=hash_token) -> AuthConfig:
    users = [
        UserConfig(name=f"t{i}", token_hash=make(f"token-number-{i}", n=2**4)) for i in range(count)
    ]
    return AuthConfig(users=users, cache_seconds=0)


def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per scrypt computed from now on."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def bearer_costs(monkeypatch, config: AuthConfig, valid: str) -> tuple[int, int, str | None]:
    """scrypt computations for one unknown token, then for the valid one; whom it identified."""

    async def run() -> tuple[int, int, str | None]:
        authenticator = Authenticator(config)
        calls = scrypt_calls(monkeypatch)
        assert await authenticator.identify("Bearer not-anyones-token") is None
        bogus = len(calls)
        user = await authenticator.identify(f"Bearer {valid}")
        return bogus, len(calls) - bogus, user.name if user else None

    return asyncio.run(run())


@pytest.mark.parametrize("count", [1, 3, 16])
def test_a_bearer_token_costs_one_scrypt_whatever_the_number_of_token_users(monkeypatch, count):
    costs = bearer_costs(monkeypatch, token_users(count), f"token-number-{count - 1}")
    assert costs == (1, 1, f"t{count - 1}")


def test_token_hashes_without_lookup_id_still_work_at_a_cost_that_is_logged(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.auth.authenticator"):
        costs = bearer_costs(monkeypatch, token_users(3, make=hash_secret), "token-number-1")
    assert costs == (3, 3, "t1")
    assert "t0, t1, t2" in caplog.text and "hash-password --token" in caplog.text
