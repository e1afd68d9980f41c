"""gateway/forwarded.py: forwarding headers are believed from trusted proxies only."""

from __future__ import annotations

import pytest

from gateway.forwarded import (
    TrustedProxies,
    client_address,
    client_host,
    client_scheme,
    first_entry,
    parse_networks,
)
from tests.helpers.mocked import request_from

SPOOFED = {
    "X-Forwarded-For": "6.6.6.6, 10.0.0.1",
    "X-Forwarded-Proto": "HTTPS",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "7.7.7.7",
    "Host": "gateway.internal:5500",
}


def test_networks_take_addresses_and_cidrs_with_host_bits():
    assert [str(n) for n in parse_networks(["10.0.0.5", " 10.1.2.3/16 ", "::1"])] == [
        "10.0.0.5/32",
        "10.1.0.0/16",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or CIDR"):
        parse_networks(["10.0.0.300"])


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.0.0.7", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("::ffff:10.0.0.7", True),  # an IPv4 peer on a dual-stack socket
        ("fe80::1%eth0", True),  # zone id dropped before matching
        ("fe80::2", True),
        ("2001:db8::1", False),
        ("not-an-address", False),
        ("", False),
        (None, False),
    ],
)
def test_trust_is_by_peer_address(peer, trusted):
    assert TrustedProxies(["10.0.0.0/8", "fe80::/64"]).trusts(peer) is trusted


def test_no_proxy_is_trusted_by_default():
    assert not TrustedProxies([]).trusts("127.0.0.1")


def test_first_entry_is_what_the_client_used():
    assert first_entry("https, http") == "https"
    assert first_entry(" a.example ,b") == "a.example"
    assert first_entry("") is None and first_entry(None) is None and first_entry(" ,x") is None


def test_an_untrusted_peer_cannot_spoof_its_address_scheme_or_host():
    request = request_from("203.0.113.9", SPOOFED, trusted=["10.0.0.0/8"])
    assert client_address(request) == "203.0.113.9"
    assert client_scheme(request) == "http"
    assert client_host(request) == "gateway.internal:5500"


def test_a_trusted_proxy_is_believed_first_entry_first():
    request = request_from("10.0.0.1", SPOOFED, trusted=["10.0.0.0/8"])
    assert client_address(request) == "6.6.6.6"
    assert client_scheme(request) == "https"  # lower-cased
    assert client_host(request) == "evil.example"


def test_x_real_ip_stands_in_for_a_missing_x_forwarded_for():
    headers = {"X-Real-IP": " 198.51.100.4 ", "Host": "gw"}
    assert client_address(request_from("10.0.0.1", headers, trusted=["10.0.0.1"])) == (
        "198.51.100.4"
    )
    assert client_address(request_from("10.0.0.2", headers, trusted=["10.0.0.1"])) == "10.0.0.2"


def test_a_trusted_proxy_without_claims_leaves_the_connections_own_view():
    request = request_from("10.0.0.1", {"Host": "gw:1"}, trusted=["10.0.0.1"])
    assert (client_address(request), client_scheme(request), client_host(request)) == (
        "10.0.0.1",
        "http",
        "gw:1",
    )


def test_no_host_header_is_no_host_not_this_machines_name():
    assert client_host(request_from("203.0.113.9", {})) is None


def test_without_a_peer_address_nothing_is_trusted():
    request = request_from(None, SPOOFED, trusted=["0.0.0.0/0", "::/0"])
    assert client_address(request) is None
    assert client_host(request) == "gateway.internal:5500"
