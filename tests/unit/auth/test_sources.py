"""gateway/auth/sources.py: which source vouches for which credentials, and their permissions."""

from __future__ import annotations

import asyncio

import pytest

from gateway.auth.actions import Action
from gateway.auth.config import AuthConfig, Permission
from gateway.auth.identity import Identity
from gateway.auth.sources import GrantTable, Sources
from gateway.auth.tracking_auth import MlflowCaller
from gateway.tenancy import key_of
from tests.helpers.credentials import auth_config, basic


def test_basic_names_in_the_users_list_stay_static_others_go_to_the_auth_app():
    async def scenario() -> list[tuple[str, str] | None]:
        sources = Sources(auth_config(provider="mlflow"), "http://127.0.0.1:9")
        headers = [basic("alice", "alice-secret"), basic("alice", "x"), basic("bob", "b")]
        headers += ["Bearer ci-token", "Bearer nobody", "Basic %%%"]
        found = [await sources.identify(header) for header in headers]
        return [(c.identity.name, c.identity.source) if c else None for c in found]

    assert asyncio.run(scenario()) == [
        ("alice", "static"),
        None,  # a static user's wrong password never reaches the tracking server
        ("bob", "mlflow"),
        ("ci", "static"),
        None,
        None,
    ]


def test_without_the_auth_app_unknown_names_are_nobody():
    async def scenario() -> object:
        return await Sources(auth_config(), None).identify(basic("bob", "b"))

    assert asyncio.run(scenario()) is None


def test_the_auth_app_needs_a_url_and_needs_no_static_users():
    with pytest.raises(ValueError, match="tracking-uri"):
        Sources(AuthConfig(provider="mlflow"), None)
    with pytest.raises(ValueError, match="needs users"):
        AuthConfig()
    sources = Sources(AuthConfig(provider="mlflow", mlflow={"url": "http://127.0.0.1:9"}), None)

    async def scenario() -> object:
        return await sources.identify(basic("bob", "b"))

    assert isinstance(asyncio.run(scenario()), MlflowCaller)


def test_a_grant_table_takes_the_most_generous_entry_of_the_user_and_each_group():
    table = GrantTable(
        users={"ann": {"7": Permission.READ, "*": Permission.NO_PERMISSIONS}},
        groups={"ml": {"*": Permission.READ, "7-9": Permission.EDIT}, "ops": {"8": "MANAGE"}},
        metrics=frozenset({"group:ops"}),
    )
    ann = Identity("ann", "oidc", frozenset({"ml"}))
    assert [table.permission(ann, key_of(e)) for e in ("7", "8", "10")] == ["EDIT", "EDIT", "READ"]
    both = Identity("bo", "proxy", frozenset({"ml", "ops"}))
    assert table.permission(both, key_of("8/x")) == Permission.MANAGE
    assert table.permission(Identity("zed", "oidc"), key_of("7")) == Permission.NO_PERMISSIONS
    team = GrantTable(users={}, groups={"a": {"workspace:team-a": "READ", "*": "NO_PERMISSIONS"}})
    member = Identity("x", "proxy", frozenset({"a"}))
    assert team.permission(member, key_of("workspaces/team-a/7/r")) == Permission.READ
    assert team.permission(member, key_of("7/r")) == Permission.NO_PERMISSIONS
    assert (table.may_read_metrics(both), table.may_read_metrics(ann)) == (True, False)
    assert Permission.EDIT.allows(Action.WRITE)


def test_a_jwt_goes_to_oidc_and_any_other_bearer_to_the_static_tokens():
    from gateway.auth.oidc import InvalidToken
    from tests.helpers.oidc_issuer import AUDIENCE, Issuer, serving

    async def scenario() -> list[object]:
        async with serving(Issuer()) as issuer:
            oidc = {"issuer": issuer.url, "audience": AUDIENCE}
            oidc["permissions"] = {"groups": {"ml": {"*": "EDIT"}}}
            sources = Sources(auth_config(oidc=oidc), None)
            await sources.start()
            try:
                ann = await sources.identify("Bearer " + issuer.token(issuer.claims(groups=["ml"])))
                ci = await sources.identify("Bearer ci-token")
                with pytest.raises(InvalidToken):
                    await sources.identify("Bearer " + issuer.unsigned(issuer.claims()))
                decision = await ann.allows(Action.WRITE, key_of("7/r/artifacts/x"), None)
            finally:
                await sources.close()
            return [ann.identity.source, ci.identity.name, decision.allowed]

    assert asyncio.run(scenario()) == ["oidc", "ci", True]


def test_proxy_headers_name_a_caller_only_when_configured():
    headers = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "ml"}
    assert Sources(auth_config(), None).from_proxy(headers) is None
    proxied = {"permissions": {"groups": {"ml": {"7": "READ"}}}}
    caller = Sources(auth_config(proxy_headers=proxied), None).from_proxy(headers)
    assert caller is not None and (caller.name, caller.identity.source) == ("ann", "proxy")
    assert asyncio.run(caller.allows(Action.READ, key_of("7/x"), None)).allowed
    assert not asyncio.run(caller.allows(Action.READ, key_of("8/x"), None)).allowed
