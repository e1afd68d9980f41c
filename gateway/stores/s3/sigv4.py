"""AWS Signature Version 4 for the raw S3 paths, without botocore's request objects.

botocore's `S3SigV4QueryAuth` / `S3SigV4Auth` build an `AWSRequest`, re-parse its URL and
derive the day's signing key (four HMACs) on every request. The key depends only on the secret,
the date, the region and the service ("Deriving a signing key", AWS SigV4 documentation), so it
is cached here per credential and region. The canonical request follows botocore's
(`botocore/auth.py`: `SigV4Auth.canonical_request`, S3's path left unnormalized, its header
blacklist, `_host_from_url`); `tests/unit/stores/s3/test_sigv4.py` compares every output with
botocore's for the same request.

Credentials are passed in on every call (frozen by the caller from botocore's possibly
refreshing credentials), so a refreshed key or token is used as soon as botocore has it.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SAFE = "-_.~"  # botocore.utils.SAFE_CHARS, RFC 3986 unreserved
_MAX_KEYS = 16  # a handful of credentials x regions x days; cleared, not grown, past it
# botocore.auth.SIGNED_HEADERS_BLACKLIST
_UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


@dataclass(frozen=True)
class Credentials:
    """What a signature needs of botocore's `ReadOnlyCredentials`."""

    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _host(parts: urllib.parse.SplitResult) -> str:
    """As botocore's `_host_from_url`: lowercase, default port left out, IPv6 bracketed."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


def _encode(pairs: Mapping[str, object]) -> str:
    """botocore's `percent_encode_sequence`, insertion order kept."""
    quote = urllib.parse.quote
    return "&".join(f"{quote(k, safe=_SAFE)}={quote(str(v), safe=_SAFE)}" for k, v in pairs.items())


def _canonical_query(query: str) -> str:
    """botocore's `_canonical_query_string_url`: the encoded pairs, sorted."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)


class Signer:
    """Signs S3 requests for one region; the day's signing key is kept per credential."""

    def __init__(self, region: str, service: str = "s3") -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def _key(self, credentials: Credentials, day: str) -> bytes:
        cache_key = (credentials.access_key, credentials.secret_key, day)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            key = _hmac(("AWS4" + credentials.secret_key).encode("utf-8"), day)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._keys[cache_key] = key
        return key

    def _signature(
        self, credentials: Credentials, stamp: str, canonical_request: str
    ) -> tuple[str, str]:
        """The credential scope and the hex signature of `canonical_request`."""
        scope = f"{stamp[:8]}/{self.region}/{self.service}/aws4_request"
        digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"
        key = self._key(credentials, stamp[:8])
        return scope, hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    def presign(
        self,
        method: str,
        url: str,
        credentials: Credentials,
        now: datetime,
        expires: int,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """A presigned URL (`S3SigV4QueryAuth`): only `host` signed, the payload unsigned.

        `url` has its path already quoted and no query; `query` holds operation parameters,
        which go before the authentication parameters as botocore puts them."""
        parts = urllib.parse.urlsplit(url)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{self.region}/{self.service}/aws4_request"
        auth: dict[str, object] = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{credentials.access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
        }
        if credentials.token is not None:
            auth["X-Amz-Security-Token"] = credentials.token
        operation = _encode(query) + "&" if query else ""
        query_string = operation + _encode(auth)
        canonical = "\n".join(
            (
                method.upper(),
                parts.path,
                _canonical_query(query_string),
                f"host:{_host(parts)}\n",
                "host",
                UNSIGNED_PAYLOAD,
            )
        )
        _, signature = self._signature(credentials, stamp, canonical)
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return f"{base}?{query_string}&X-Amz-Signature={signature}"

    def sign_headers(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        payload_sha256: str,
        credentials: Credentials,
        now: datetime,
    ) -> dict[str, str]:
        """`headers` plus `X-Amz-Date`, `X-Amz-Content-SHA256`, the token and `Authorization`
        (`S3SigV4Auth`): every header signed but botocore's blacklist, and `host`."""
        parts = urllib.parse.urlsplit(url)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        signed = dict(headers)
        signed["X-Amz-Date"] = stamp
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        signed["X-Amz-Content-SHA256"] = payload_sha256
        canonical_headers: dict[str, list[str]] = {}
        for name, value in signed.items():
            if name.lower() not in _UNSIGNED_HEADERS:
                canonical_headers.setdefault(name.lower(), []).append(" ".join(value.split()))
        canonical_headers.setdefault("host", [_host(parts)])
        names = sorted(canonical_headers)
        signed_names = ";".join(names)
        canonical = "\n".join(
            (
                method.upper(),
                parts.path,
                _canonical_query(parts.query),
                "".join(f"{name}:{','.join(canonical_headers[name])}\n" for name in names),
                signed_names,
                payload_sha256,
            )
        )
        scope, signature = self._signature(credentials, stamp, canonical)
        signed["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return signed
