"""Credentials and permissions in-process: hashes, users, the authenticator and its cache."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import threading
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from gateway.auth.actions import Action
from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, Permission, UserConfig
from gateway.auth.passwords import ScryptHash, TokenHash, hash_secret, hash_token, verify
from gateway.auth.policy import AUTHENTICATOR
from gateway.auth.users import User
from gateway.config import load_settings
from gateway.http.app import build_app
from gateway.http.guard import add
from gateway.http.routes.passthrough import Passthrough
from gateway.routing.destinations import Destinations
from gateway.stores.local import LocalStore

ALICE_HASH = hash_secret("alice-secret")
CI_HASH = hash_secret("ci-token")


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_hash_round_trip_with_fresh_salt_each_time():
    again = hash_secret("alice-secret")
    assert again != ALICE_HASH and again.startswith("scrypt$16384$8$1$")
    assert verify("alice-secret", ALICE_HASH) and verify("alice-secret", again)
    assert not verify("alice-secret ", ALICE_HASH) and not verify("", ALICE_HASH)
    assert verify("pässwörd", hash_secret("pässwörd", n=2**10))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-password",
        "bcrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$not base64$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",  # n not a power of two
        "scrypt$16384$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",  # salt too short
        "scrypt$x$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1048576$32$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",  # 4 GiB per check
    ],
)
def test_malformed_hashes_are_refused_without_echoing_them(encoded):
    with pytest.raises(ValueError) as raised:
        ScryptHash.parse(encoded)
    assert not encoded or encoded not in str(raised.value)


def test_permissions_grant_what_mlflow_grants():
    assert [p.allows(Action.READ) for p in Permission] == [True, True, True, False]
    assert [p.allows(Action.WRITE) for p in Permission] == [False, True, True, False]
    assert [p.allows(Action.DELETE) for p in Permission] == [False, False, True, False]


def test_user_permissions_by_id_range_and_default():
    config = UserConfig(
        name="alice",
        password_hash=ALICE_HASH,
        permissions={"7": "EDIT", "10-20": "MANAGE", "*": "READ"},
    )
    user = User.from_config(config)
    assert user.permission_on("7") is Permission.EDIT
    assert user.permission_on("10") is user.permission_on("20") is Permission.MANAGE
    assert user.permission_on("21") is Permission.READ
    # Only canonical IDs match a numbered rule: '007' is another experiment, '*' applies.
    assert user.permission_on("007") is Permission.READ
    assert user.permission_on("models") is Permission.READ
    nobody_else = User.from_config(
        UserConfig(name="ci", token_hash=CI_HASH, permissions={"2": "READ"})
    )
    assert nobody_else.permission_on("3") is Permission.NO_PERMISSIONS
    assert not nobody_else.may(Action.READ, "3") and nobody_else.may(Action.READ, "2")


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"name": "a"}, "needs a password_hash or a token_hash"),
        ({"name": "a", "password_hash": "plain"}, "not a hash from"),
        ({"name": "a", "token_hash": CI_HASH, "permissions": {"x": "READ"}}, "not an experiment"),
        ({"name": "a", "token_hash": CI_HASH, "permissions": {"7": "WRITE"}}, "Input should be"),
        (
            {"name": "a", "token_hash": CI_HASH, "permissions": {"1-9": "READ", "5": "EDIT"}},
            "overlap",
        ),
        ({"name": "a:b", "token_hash": CI_HASH}, "should match pattern"),
    ],
)
def test_invalid_users_are_refused(entry, fragment):
    with pytest.raises(ValidationError, match=fragment):
        UserConfig.model_validate(entry)


def test_user_names_are_unique():
    user = {"name": "a", "token_hash": CI_HASH}
    with pytest.raises(ValidationError, match="unique"):
        AuthConfig.model_validate({"users": [user, user]})


def auth_config(**extra) -> AuthConfig:
    return AuthConfig(
        users=[
            UserConfig(name="alice", password_hash=ALICE_HASH, permissions={"*": "READ"}),
            UserConfig(name="ci", token_hash=CI_HASH),
        ],
        **extra,
    )


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


def test_token_hash_format_keeps_the_lookup_id_beside_the_scrypt_hash():
    encoded = hash_token("a-token", n=2**4)
    parsed = TokenHash.parse(encoded)
    assert str(parsed) == encoded and parsed.matches("a-token") and not parsed.matches("a-toke")
    assert TokenHash.parse(hash_secret("a-token", n=2**4)).lookup is None
    for broken in (encoded.replace("$", "$x", 1), "scrypt-t$" + "0" * 16 + "$garbage"):
        with pytest.raises(ValueError) as raised:
            TokenHash.parse(broken)
        assert broken not in str(raised.value)
    with pytest.raises(ValidationError, match="belongs in token_hash"):
        UserConfig(name="a", password_hash=encoded)


def test_waiting_credential_checks_are_bounded_and_the_rest_told_to_retry(tmp_path):
    """64 uncached checks may run or wait; one more distinct credential gets 429 at once."""
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    settings.auth = auth_config()
    gate = threading.Event()
    url = "/api/2.0/mlflow-artifacts/artifacts/7/x.txt"

    async def run() -> tuple[int, dict, str | None, list[int]]:
        app = build_app(settings, Destinations(LocalStore(str(tmp_path), 65536)))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            authenticator = app[AUTHENTICATOR]
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
