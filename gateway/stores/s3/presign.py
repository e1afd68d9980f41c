"""Requests for the raw-socket paths (GETs, small PUTs), signed by `sigv4.Signer`.

`generate_presigned_url` also runs the endpoint rules, the serializers and the event hooks,
and botocore's signers build request objects and derive the day's key each time
(docs/performance.md, "Request rate"). Only path-style URLs on a configured endpoint (MinIO,
SeaweedFS: the only endpoints the raw path serves) are built here; anything else goes the long
way.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from gateway.stores.s3.sigv4 import Credentials, Signer

EXPIRES = 300
_signers: dict[str, Signer] = {}  # one per region: few, and each holds only its day's keys


async def _signing(client: Any, style: str) -> tuple[Credentials, Signer] | None:
    """The client's resolved credentials (static, environment, profile or refreshing), which
    botocore keeps on its request signer, frozen now (a refresh is botocore's, on this call),
    and the signer of its region; None for anonymous clients or virtual-host style."""
    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    if style != "path" or credentials is None:
        return None
    frozen = await credentials.get_frozen_credentials()
    region = client.meta.region_name or "us-east-1"
    signer = _signers.get(region) or _signers.setdefault(region, Signer(region))
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token), signer


def _url(endpoint: str, bucket: str, key: str) -> str:
    path = urllib.parse.quote(key, safe="/~")  # as botocore's serializer quotes {Key+}
    return f"{endpoint.rstrip('/')}/{bucket}/{path}"


async def presigned_get(
    client: Any, endpoint: str, bucket: str, key: str, style: str, method: str = "GET"
) -> str:
    """A presigned GetObject URL, or HeadObject's for `method` HEAD."""
    signing = await _signing(client, style)
    if signing is None:
        params = {"Bucket": bucket, "Key": key}
        operation = "head_object" if method == "HEAD" else "get_object"
        return await client.generate_presigned_url(
            operation, Params=params, ExpiresIn=EXPIRES, HttpMethod=method
        )
    credentials, signer = signing
    now = datetime.now(timezone.utc)
    return signer.presign(method, _url(endpoint, bucket, key), credentials, now, EXPIRES)


async def signed_put(
    client: Any,
    endpoint: str,
    bucket: str,
    key: str,
    body: bytes,
    content_type: str,
    style: str,
    extra: dict[str, str] | None = None,
    sha256: bytes | None = None,
) -> tuple[str, dict[str, str]] | None:
    """The URL and headers of a PutObject of `body`, its payload signed (plain HTTP); None
    where only botocore's own call can sign. `sha256`, the body's digest when the caller
    already has it, is the payload hash (SigV4's `X-Amz-Content-SHA256`) without a second pass."""
    signing = await _signing(client, style)
    if signing is None:
        return None
    credentials, signer = signing
    url = _url(endpoint, bucket, key)
    digest = sha256.hex() if sha256 is not None else hashlib.sha256(body).hexdigest()
    now = datetime.now(timezone.utc)
    headers = {"Content-Type": content_type, **(extra or {})}
    return url, signer.sign_headers("PUT", url, headers, digest, credentials, now)


async def presigned_list(
    client: Any, endpoint: str, bucket: str, query: dict[str, str], style: str
) -> str | None:
    """A presigned ListObjectsV2 URL with `query` (`list-type=2` added); None where only
    botocore's own call can sign."""
    signing = await _signing(client, style)
    if signing is None:
        return None
    credentials, signer = signing
    url, now = f"{endpoint.rstrip('/')}/{bucket}", datetime.now(timezone.utc)
    return signer.presign("GET", url, credentials, now, EXPIRES, {"list-type": "2", **query})
