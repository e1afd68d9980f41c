"""gateway/auth/proxy_identity.py: the user and groups an authenticating proxy names."""

from __future__ import annotations

from multidict import CIMultiDict

from gateway.auth.proxy_identity import IDENTITY_HEADERS, identity
from gateway.auth.source_config import ProxyHeaders
from gateway.forwarded import PROXY_HEADERS


def test_the_first_user_header_present_names_the_user_with_every_group():
    headers = CIMultiDict(
        {
            "x-forwarded-email": "ann@example.com",
            "X-Forwarded-User": "  ann ",
            "X-Forwarded-Groups": "ml, ops,,",
            "X-Auth-Request-Groups": "admins",
        }
    )
    found = identity(headers, ProxyHeaders())
    assert found is not None
    assert (found.name, found.source, found.groups) == ("ann", "proxy", {"ml", "ops", "admins"})


def test_the_e_mail_names_the_user_when_no_user_header_is_sent():
    found = identity(CIMultiDict({"X-Auth-Request-Email": "bo@example.com"}), ProxyHeaders())
    assert found is not None and found.name == "bo@example.com" and found.groups == frozenset()


def test_no_user_header_no_identity():
    assert (
        identity(CIMultiDict({"X-Forwarded-Groups": "ml", "X-Forwarded-User": " "}), ProxyHeaders())
        is None
    )


def test_every_identity_header_is_dropped_from_untrusted_peers_before_the_passthrough():
    assert set(IDENTITY_HEADERS) <= set(PROXY_HEADERS)
