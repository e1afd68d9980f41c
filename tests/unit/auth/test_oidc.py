"""gateway/auth/oidc.py against an issuer on 127.0.0.1 (tests/helpers/oidc_issuer.py): every
malformed or forged token refused with the reason, key rotation, and bounded refetches."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.auth.decisions import Unavailable
from gateway.auth.oidc import InvalidToken, Verifier, looks_like_jwt
from gateway.auth.source_config import OidcConfig
from tests.helpers.oidc_issuer import AUDIENCE, Issuer, SigningKey, forged, serving


def config(issuer: Issuer, **extra) -> OidcConfig:
    return OidcConfig(issuer=issuer.url, audience=AUDIENCE, **extra)


async def verifier_for(issuer: Issuer, **extra) -> Verifier:
    verifier = Verifier(config(issuer, **extra), "realm")
    await verifier.start()
    return verifier


def test_a_valid_token_names_its_user_and_groups():
    async def scenario() -> tuple[str, str, frozenset[str]]:
        async with serving(Issuer()) as issuer:
            verifier = await verifier_for(issuer)
            try:
                token = issuer.token(issuer.claims("ann", groups=["ml", "ops", 7]))
                identity = await verifier.identify(token)
            finally:
                await verifier.close()
        return identity.name, identity.source, identity.groups

    assert asyncio.run(scenario()) == ("ann", "oidc", frozenset({"ml", "ops"}))


def test_every_forged_or_broken_token_is_refused_with_its_reason_and_never_logged(caplog):
    async def scenario() -> dict[str, str]:
        async with serving(Issuer()) as issuer:
            verifier = await verifier_for(issuer, jwks_min_refetch_seconds=3600)
            tokens = forged(issuer)
            found = {}
            try:
                for why, token in tokens.items():
                    with pytest.raises(InvalidToken) as refused:
                        await verifier.identify(token)
                    found[why] = dict(refused.value.headers)["WWW-Authenticate"]
                    assert refused.value.status == 401
            finally:
                await verifier.close()
            logged = caplog.text
            assert not [t for t in tokens.values() if t.split(".")[-1] and t in logged]
            return found

    with caplog.at_level(logging.DEBUG):
        found = asyncio.run(scenario())
    for why, header in found.items():
        assert header.startswith('Bearer realm="realm", error="invalid_token"'), header
        assert why in header, (why, header)


def test_rotation_an_unknown_kid_refetches_at_most_once_per_interval():
    async def scenario() -> list[object]:
        async with serving(Issuer()) as issuer:
            verifier = await verifier_for(issuer, jwks_min_refetch_seconds=3600)
            seen: list[object] = []
            try:
                await verifier.identify(issuer.token())
                seen.append(issuer.jwks_requests)
                old = issuer.keys[0]
                new = issuer.rotate(SigningKey.ec(), keep_old=False)
                with pytest.raises(InvalidToken, match="unknown signing key"):
                    await verifier.identify(issuer.token(key=new))  # fetched just now: no refetch
                seen.append(issuer.jwks_requests)
                verifier.keys._attempted_at -= 3601  # as if the interval had passed
                seen.append((await verifier.identify(issuer.token(key=new))).name)
                seen.append(issuer.jwks_requests)
                strangers = [issuer.token(key=SigningKey.rsa()) for _ in range(20)]
                refused = await asyncio.gather(
                    *[verifier.identify(t) for t in strangers], return_exceptions=True
                )
                seen.append({type(r).__name__ for r in refused})
                seen.append(issuer.jwks_requests)
                with pytest.raises(InvalidToken, match="unknown signing key"):
                    await verifier.identify(issuer.token(key=old))  # retired with the rotation
            finally:
                await verifier.close()
            return seen

    assert asyncio.run(scenario()) == [1, 1, "ann", 2, {"InvalidToken"}, 2]


def test_an_unreachable_issuer_is_unavailable_not_a_refusal():
    async def scenario() -> None:
        verifier = Verifier(
            OidcConfig(issuer="http://127.0.0.1:9", audience="a", timeout_seconds=1), "realm"
        )
        await verifier.start()
        try:
            token = Issuer(url="http://127.0.0.1:9").token()
            with pytest.raises(Unavailable):
                await verifier.identify(token)
        finally:
            await verifier.close()

    asyncio.run(scenario())


def test_only_asymmetric_algorithms_may_be_configured():
    for refused in (["none"], ["HS256"], ["RS256", "HS512"]):
        with pytest.raises(ValueError, match="not allowed"):
            OidcConfig(issuer="https://i", audience="a", algorithms=refused)


def test_what_looks_like_a_jwt():
    assert looks_like_jwt("eyJh.eyJi.sig") and not looks_like_jwt("ci-token-9f8e7d6c")
