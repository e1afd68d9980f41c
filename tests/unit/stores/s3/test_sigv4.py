"""gateway/stores/s3/sigv4.py: the same signatures as botocore's, byte for byte; and
presign.py: credentials refreshed by botocore are the ones signed with."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import urllib.parse

import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import get_session
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from gateway.stores.s3 import presign
from gateway.stores.s3.sigv4 import Credentials, Signer

NOW = datetime.datetime(2026, 12, 7, 23, 59, 58, tzinfo=datetime.timezone.utc)
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDH+token/with=odd&chars"
KEYS = ["plain/file.txt", "ünïcødé/файл 名前.json", "spaces and+plus/a%b?c#d", "~tilde/x!*'()"]
ENDPOINTS = ["http://127.0.0.1:8333", "http://minio.example", "http://[::1]:9000"]


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda **_: NOW.replace(tzinfo=None))


def _url(endpoint: str, key: str) -> str:
    return f"{endpoint}/bucket/{urllib.parse.quote(key, safe='/~')}"


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("query", [None, {"versionId": "3/L4kq+", "partNumber": "2"}])
def test_presigned_url_is_botocores(frozen_clock, token, key, endpoint, query):
    url = _url(endpoint, key)
    theirs = AWSRequest(method="GET", url=url, params=dict(query or {}))
    creds = BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    botocore_auth.S3SigV4QueryAuth(creds, "s3", "eu-west-3", expires=300).add_auth(theirs)
    mine = Signer("eu-west-3").presign(
        "GET", url, Credentials(creds.access_key, creds.secret_key, creds.token), NOW, 300, query
    )
    assert mine == theirs.url


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    ("method", "headers", "body", "query"),
    [
        ("PUT", {"Content-Type": "application/json"}, b'{"a": 1}', ""),
        ("PUT", {"Content-Type": "text/plain", "User-Agent": "x"}, b"", ""),
        ("GET", {"Range": "bytes=0-4095", "If-None-Match": ' "e  tag" '}, b"", ""),
        ("GET", {"Range": "bytes=-10"}, b"", "partNumber=1&versionId=a%2Fb&acl="),
    ],
)
def test_header_signature_is_botocores(frozen_clock, token, key, method, headers, body, query):
    url = _url("http://127.0.0.1:8333", key) + (f"?{query}" if query else "")
    theirs = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    creds = BotoCredentials("AKIDEXAMPLE", "secret/key+with=chars", token)
    botocore_auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(theirs)
    mine = Signer("us-east-1").sign_headers(
        method,
        url,
        headers,
        hashlib.sha256(body).hexdigest(),
        Credentials(creds.access_key, creds.secret_key, creds.token),
        NOW,
    )
    assert mine == {name: str(value) for name, value in theirs.headers.items()}


def test_day_key_is_cached_per_credential_and_day():
    """A second secret, or the next day, gets its own key: a cached key never signs for the
    wrong credential (what a rotation or refresh would otherwise break)."""
    signer = Signer("us-east-1")
    one, two = Credentials("AK1", "s1"), Credentials("AK1", "s2")
    url = "http://127.0.0.1:8333/b/k"
    tomorrow = NOW + datetime.timedelta(days=1)
    urls = {signer.presign("GET", url, c, t, 60) for c in (one, two) for t in (NOW, tomorrow)}
    assert len(urls) == 4
    assert len(signer._keys) == 4


def test_refreshed_credentials_are_signed_with():
    """botocore's refreshing credentials: once they expire, the next raw request is signed
    with the new key and token, not a cached one."""
    issued = iter(range(1, 10))

    async def refresh():
        n = next(issued)
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        return {
            "access_key": f"AK{n}",
            "secret_key": f"secret{n}",
            "token": f"token{n}",
            "expiry_time": expiry.isoformat(),
        }

    async def two_urls():
        session = get_session()
        async with session.create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
        ) as client:
            credentials = AioRefreshableCredentials.create_from_metadata(
                await refresh(), refresh, "test"
            )
            client._request_signer._credentials = credentials
            first = await presign.presigned_get(client, "http://127.0.0.1:9", "b", "k", "path")
            credentials._expiry_time = datetime.datetime.now(datetime.timezone.utc)
            second = await presign.presigned_get(client, "http://127.0.0.1:9", "b", "k", "path")
            return first, second

    first, second = asyncio.run(two_urls())
    assert "Credential=AK1%2F" in first and "Security-Token=token1" in first
    assert "Credential=AK2%2F" in second and "Security-Token=token2" in second
