"""gateway/upstream/headers.py: hop-by-hop headers never cross the proxy (RFC 9110 7.6.1), and
the forwarding headers the tracking server sees are the gateway's own view unless a trusted proxy
made the claims."""

from __future__ import annotations

from multidict import CIMultiDict

from gateway.upstream.headers import end_to_end, upstream_request_headers
from tests.helpers.mocked import request_from

HOP = [
    ("Connection", "keep-alive, X-Private-Hop"),
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
    ("Proxy-Connection", "keep-alive"),
    ("Proxy-Authenticate", "Basic"),
    ("TE", "trailers"),
    ("Trailer", "X-Checksum"),
    ("Transfer-Encoding", "chunked"),
    ("Upgrade", "websocket"),
    ("X-Private-Hop", "named by Connection"),
]


def test_hop_by_hop_headers_and_those_named_in_connection_are_dropped():
    headers = CIMultiDict([*HOP, ("Content-Type", "application/json"), ("X-Custom", "kept")])
    headers.add("Connection", "x-other")  # a second Connection header adds to the list
    headers.add("X-Other", "dropped too")
    assert list(end_to_end(headers).items()) == [
        ("Content-Type", "application/json"),
        ("X-Custom", "kept"),
    ]


def test_repeated_end_to_end_headers_stay_repeated_in_order():
    headers = CIMultiDict([("Set-Cookie", "a=1"), ("Vary", "Accept"), ("Set-Cookie", "b=2")])
    assert end_to_end(headers).getall("Set-Cookie") == ["a=1", "b=2"]


def test_an_untrusted_callers_forwarding_claims_are_replaced_by_what_the_gateway_saw():
    request = request_from(
        "203.0.113.9",
        [
            *HOP,
            ("Host", "gateway.example:5500"),
            ("Expect", "100-continue"),
            ("Forwarded", "for=6.6.6.6;host=evil"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
            ("X-Real-IP", "6.6.6.6"),
            ("Authorization", "Basic YWxpY2U6cHc="),
            ("Accept", "application/json"),
        ],
        trusted=["10.0.0.0/8"],
    )
    sent = upstream_request_headers(request, authorization=False)
    assert dict(sent) == {
        "Accept": "application/json",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "gateway.example:5500",
    }


def test_authorization_is_passed_on_only_when_asked():
    request = request_from("203.0.113.9", {"Authorization": "Bearer t", "Host": "gw"})
    assert upstream_request_headers(request, authorization=True)["Authorization"] == "Bearer t"
    assert "Authorization" not in upstream_request_headers(request, authorization=False)


def test_a_trusted_proxys_chain_is_kept_and_the_peer_appended():
    request = request_from(
        "10.0.0.1",
        [
            ("Host", "internal:5500"),
            ("X-Forwarded-For", "198.51.100.4"),
            ("X-Forwarded-For", "10.0.0.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "mlflow.example.com"),
            ("X-Real-IP", "198.51.100.4"),
        ],
        trusted=["10.0.0.0/8"],
    )
    sent = upstream_request_headers(request, authorization=False)
    assert sent.getall("X-Forwarded-For") == ["198.51.100.4, 10.0.0.9, 10.0.0.1"]
    assert sent["X-Forwarded-Proto"] == "https"
    assert sent.getall("X-Forwarded-Host") == ["mlflow.example.com"]
    assert sent["X-Real-IP"] == "198.51.100.4"
    assert "Host" not in sent


def test_without_a_host_no_forwarded_host_is_invented():
    request = request_from("203.0.113.9", {"X-Forwarded-Host": "evil.example"})
    sent = upstream_request_headers(request, authorization=False)
    assert "X-Forwarded-Host" not in sent
    assert sent["X-Forwarded-For"] == "203.0.113.9"
