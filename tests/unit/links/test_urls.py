"""gateway/links/urls.py: links point at the gateway's external base, and a signed link allows
exactly what it was signed for."""

from __future__ import annotations

import time
import urllib.parse

import pytest
from aiohttp import web

from gateway.errors import InvalidParameter
from gateway.links.signing import Signer
from gateway.links.urls import API, DOWNLOAD_ROUTE, PART_ROUTE, Links, external_base
from tests.helpers.mocked import request_from

LINKS = Links(Signer(b"unit-test-signing-secret-0123456789"), ttl=600, public_url=None)
OTHER_SECRET = Signer(b"another-replicas-secret-9876543210")


def test_a_configured_public_url_wins_over_every_header():
    request = request_from("10.0.0.1", {"Host": "x", "X-Forwarded-Host": "y"}, trusted=["10.0.0.1"])
    assert (
        external_base(request, "https://mlflow.example.com/gw") == "https://mlflow.example.com/gw"
    )


@pytest.mark.parametrize(
    ("peer", "headers", "base"),
    [
        ("203.0.113.9", {"Host": "gw.internal:5500"}, "http://gw.internal:5500"),
        ("203.0.113.9", {"Host": "[::1]:5500"}, "http://[::1]:5500"),
        (  # an untrusted caller's claims do not move the links
            "203.0.113.9",
            {"Host": "gw.internal", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "ftp"},
            "http://gw.internal",
        ),
        (
            "10.0.0.1",
            {
                "Host": "gw.internal",
                "X-Forwarded-Host": "mlflow.example.com",
                "X-Forwarded-Proto": "https",
            },
            "https://mlflow.example.com",
        ),
    ],
)
def test_without_public_url_the_base_is_the_clients_view(peer, headers, base):
    assert external_base(request_from(peer, headers, trusted=["10.0.0.1"]), None) == base


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Host at all
        {"Host": "evil.example/path?"},
        {"Host": "user@evil.example"},
        {"Host": "a b"},
        {"Host": "gw:123456"},
        {"Host": "gw", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "gw"},
    ],
)
def test_a_host_or_scheme_that_cannot_make_a_url_is_refused(headers):
    with pytest.raises(InvalidParameter, match="configure public_url"):
        external_base(request_from("10.0.0.1", headers, trusted=["10.0.0.1"]), None)


def _query(url: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    return parts.path, dict(urllib.parse.parse_qsl(parts.query))


def test_a_part_url_names_its_route_and_signs_path_upload_and_part():
    url = LINKS.part_url("http://gw", "7/run/a b#c.bin", "up-1", 3)
    path, query = _query(url)
    assert url.startswith(f"http://gw{API}{PART_ROUTE}/7/run/a%20b%23c.bin?")
    assert urllib.parse.unquote(path) == f"{API}{PART_ROUTE}/7/run/a b#c.bin"
    assert (query["upload_id"], query["part_number"]) == ("up-1", "3")
    assert 0 < int(query["expires"]) - time.time() <= 601
    LINKS.signer.verify(("part", "7/run/a b#c.bin", "up-1", 3), query)  # no exception


@pytest.mark.parametrize(
    ("fields", "change"),
    [
        (("part", "7/run/other.bin", "up-1", 3), {}),  # another path
        (("part", "7/run/a.bin", "up-2", 3), {}),  # another upload
        (("part", "7/run/a.bin", "up-1", 4), {}),  # another part
        (("download", "7/run/a.bin"), {}),  # another purpose
        (("part", "7/run/a.bin", "up-1", 3), {"expires": "9999999999"}),  # extended
        (("part", "7/run/a.bin", "up-1", 3), {"signature": "0" * 64}),
        (("part", "7/run/a.bin", "up-1", 3), {"signature": None}),
    ],
)
def test_a_tampered_part_url_is_refused(fields, change):
    _, query = _query(LINKS.part_url("http://gw", "7/run/a.bin", "up-1", 3))
    for name, value in change.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    with pytest.raises(web.HTTPForbidden, match="This URL is refused"):
        LINKS.signer.verify(fields, query)


def test_a_download_url_is_refused_by_a_replica_with_another_secret_and_when_expired():
    url = LINKS.download_url("https://mlflow.example.com", "7/run/model.pkl")
    path, query = _query(url)
    assert path == f"{API}{DOWNLOAD_ROUTE}/7/run/model.pkl"
    LINKS.signer.verify(("download", "7/run/model.pkl"), query)
    with pytest.raises(web.HTTPForbidden, match="signature does not match"):
        OTHER_SECRET.verify(("download", "7/run/model.pkl"), query)
    expired = Links(LINKS.signer, ttl=-5, public_url=None).download_url("http://gw", "7/x")
    with pytest.raises(web.HTTPForbidden, match="expired"):
        LINKS.signer.verify(("download", "7/x"), _query(expired)[1])
