"""GCS V4 signed URLs (GOOG4-RSA-SHA256), from Google's "V4 signing process with your own
program" (cloud.google.com/storage/docs/access-control/signing-urls-manually): path-style
XML API URLs, only the `host` header signed, payload `UNSIGNED-PAYLOAD`."""

from __future__ import annotations

import hashlib
import urllib.parse
from datetime import datetime, timezone

from gateway.stores.gcs.auth import SigningKey

MAX_EXPIRES = 7 * 24 * 3600  # X-Goog-Expires is at most 604800 seconds (7 days)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def signed_url(
    key: SigningKey,
    endpoint: str,
    bucket: str,
    name: str,
    method: str,
    expires_in: int,
    now: datetime | None = None,
) -> str:
    """`endpoint` is `scheme://host[:port]` (https://storage.googleapis.com for GCS itself)."""
    now = now or datetime.now(timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/auto/storage/goog4_request"
    host = urllib.parse.urlsplit(endpoint).netloc
    path = f"/{bucket}/" + urllib.parse.quote(name, safe="/-_.~")
    query = {
        "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
        "X-Goog-Credential": f"{key.email}/{scope}",
        "X-Goog-Date": stamp,
        "X-Goog-Expires": str(min(max(expires_in, 1), MAX_EXPIRES)),
        "X-Goog-SignedHeaders": "host",
    }
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    canonical = "\n".join(
        [method, path, canonical_query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signature = key.sign(to_sign.encode()).hex()
    return f"{endpoint}{path}?{canonical_query}&X-Goog-Signature={signature}"
