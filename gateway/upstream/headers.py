"""Which headers cross the proxy: end-to-end ones unchanged, hop-by-hop ones never (RFC 9110 7.6.1).

The gateway is one hop; `Connection`, `Keep-Alive`, `Transfer-Encoding` and the rest describe a
single connection and are rebuilt by aiohttp on each side.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.forwarded import PROXY_HEADERS, client_host, client_scheme, from_trusted_proxy

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by aiohttp for the upstream connection; Expect was already answered with 100 Continue.
_REQUEST_ONLY = frozenset({"host", "expect"})


Headers = CIMultiDictProxy[str] | CIMultiDict[str]


def _connection_tokens(headers: Headers) -> set[str]:
    """Headers named in `Connection` are hop-by-hop too."""
    values = headers.getall("Connection", [])
    return {token.strip().lower() for value in values for token in value.split(",")}


def end_to_end(headers: Headers) -> CIMultiDict[str]:
    """A copy without hop-by-hop headers; repeated headers (Set-Cookie) stay repeated."""
    dropped = HOP_BY_HOP | _connection_tokens(headers)
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in dropped)


def upstream_request_headers(request: web.Request, *, authorization: bool) -> CIMultiDict[str]:
    """The caller's headers as the tracking server should see them, with X-Forwarded-*.

    From a trusted proxy its forwarding headers are kept and the peer appended to
    X-Forwarded-For; from anyone else they are claims, replaced by what the gateway saw.
    """
    headers = end_to_end(request.headers)
    for name in _REQUEST_ONLY:
        headers.popall(name, None)
    if not authorization:
        headers.popall("Authorization", None)
    trusted = from_trusted_proxy(request)
    chain = headers.popall("X-Forwarded-For", []) if trusted else []
    if not trusted:
        for name in PROXY_HEADERS:
            headers.popall(name, None)
    headers["X-Forwarded-For"] = ", ".join(filter(None, (*chain, request.remote)))
    headers["X-Forwarded-Proto"] = client_scheme(request)
    host = client_host(request)
    if host:
        headers["X-Forwarded-Host"] = host
    else:
        headers.popall("X-Forwarded-Host", None)
    return headers
