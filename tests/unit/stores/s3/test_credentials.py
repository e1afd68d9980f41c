"""gateway/stores/s3/credentials.py: the role wiring against an STS stand-in on 127.0.0.1.

No real STS runs here (moto's would be a mock as well): these tests show what the gateway
sends to STS and that every client of a destination shares the one refreshing credentials;
that AWS accepts the calls is botocore's own, unchanged code.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import S3Transfer
from gateway.stores.s3 import S3Options, S3Store

_RESPONSE = """<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<{action}Result><Credentials><AccessKeyId>AKIDFROMROLE{n:04d}</AccessKeyId>
<SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken>
<Expiration>{expires}</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId><Arn>{arn}</Arn></AssumedRoleUser>
</{action}Result></{action}Response>"""


@contextlib.asynccontextmanager
async def sts():
    calls: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl(await request.text()))
        form["authorization"] = request.headers.get("Authorization", "")
        calls.append(form)
        expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = _RESPONSE.format(
            action=form["Action"], n=len(calls), expires=expires, arn=form["RoleArn"]
        )
        return web.Response(text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")), calls
    finally:
        await server.close()


async def _frozen(store: S3Store):
    main = await store._client._request_signer._credentials.get_frozen_credentials()
    streamed = await store._stream_client()
    other = await streamed._request_signer._credentials.get_frozen_credentials()
    return main, other


def test_assume_role_with_the_destinations_keys() -> None:
    main, other, calls = asyncio.run(_roles(_assume_role_options))
    assert main.access_key == other.access_key == "AKIDFROMROLE0001"
    assert len(calls) == 1  # one refresh for the destination's clients
    call = calls[0]
    assert call["Action"] == "AssumeRole"
    assert call["RoleArn"] == "arn:aws:iam::123456789012:role/models"
    assert (call["RoleSessionName"], call["ExternalId"], call["DurationSeconds"]) == (
        "gw-test",
        "ext-42",
        "900",
    )
    assert "Credential=AKIDSOURCE/" in call["authorization"]  # signed with the source keys


async def _roles(options):
    async with sts() as (url, calls):
        store = S3Store(options(url), S3Transfer(), 1024 * 1024)
        await store.start()
        try:
            main, other = await _frozen(store)
        finally:
            await store.close()
    return main, other, calls


def _assume_role_options(url: str) -> S3Options:
    return S3Options(
        uri="s3://bucket/p",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="AKIDSOURCE",
        secret_access_key="source-secret",
        role_arn="arn:aws:iam::123456789012:role/models",
        role_session_name="gw-test",
        external_id="ext-42",
        duration_seconds=900,
        sts_endpoint_url=url,
    )


def test_web_identity_from_a_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.web.identity")
    options = lambda url: S3Options(  # noqa: E731
        uri="s3://bucket/p",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        role_arn="arn:aws:iam::123456789012:role/irsa",
        web_identity_token_file=token,
        sts_endpoint_url=url,
    )
    main, _, calls = asyncio.run(_roles(options))
    assert main.access_key == "AKIDFROMROLE0001" and main.token == "role-token"
    (call,) = calls
    assert call["Action"] == "AssumeRoleWithWebIdentity"
    assert call["WebIdentityToken"] == "eyJ.web.identity"
    assert call["RoleSessionName"] == "mlflow-artifact-gateway"
    assert call["authorization"] == ""  # unsigned, as AWS requires


def test_inconsistent_role_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="need a role_arn"):
        S3Options(uri="s3://b/p", external_id="x")
    with pytest.raises(ValueError, match="not to a web identity"):
        S3Options(uri="s3://b/p", role_arn="arn:x", external_id="x", web_identity_token_file="/t")
