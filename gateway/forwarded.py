"""Whose word counts for the client's address, scheme and host.

`X-Forwarded-*` and `X-Real-IP` are claims any client can make; they are believed only when the
peer (`request.remote`) is a configured trusted proxy. Otherwise the request's own connection
and `Host` describe the client.

An authenticating proxy's identity headers (`auth.proxy_headers`: `X-Forwarded-User`,
`X-Auth-Request-*`, ...) follow the same rule: read from a trusted proxy only, dropped from
anyone else's requests before the passthrough.

`Forwarded` (RFC 7239) is never parsed: the gateway reads only the X- forms above. It is one of
`PROXY_HEADERS`, so the upstream client passes it on from a trusted proxy and drops it from
anyone else (`upstream.headers.upstream_request_headers`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import hdrs, web

from gateway.auth.proxy_identity import IDENTITY_HEADERS
from gateway.config import parse_networks

PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Real-IP",
    *IDENTITY_HEADERS,  # an authenticating proxy's user and groups (auth.proxy_headers)
)


class TrustedProxies:
    """The peers whose forwarding headers are believed; none by default."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = tuple(parse_networks(networks))

    def trusts(self, peer: str | None) -> bool:
        if not peer or not self._networks:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)


def from_trusted_proxy(request: web.Request) -> bool:
    proxies = request.app.get(TRUSTED_PROXIES)
    return proxies is not None and proxies.trusts(request.remote)


def first_entry(value: str | None) -> str | None:
    """Proxies append to X-Forwarded-*: the first entry is what the client used."""
    if not value:
        return None
    return value.split(",")[0].strip() or None


def client_scheme(request: web.Request) -> str:
    """`X-Forwarded-Proto` from a trusted proxy, else the connection's own scheme."""
    if from_trusted_proxy(request):
        claimed = first_entry(request.headers.get("X-Forwarded-Proto"))
        if claimed:
            return claimed.lower()
    return request.scheme


def client_host(request: web.Request) -> str | None:
    """`X-Forwarded-Host` from a trusted proxy, else the `Host` header (None when absent).

    Not `request.host`, which falls back to this machine's name when a client sends no Host.
    """
    if from_trusted_proxy(request):
        claimed = first_entry(request.headers.get("X-Forwarded-Host"))
        if claimed:
            return claimed
    return request.headers.get(hdrs.HOST) or None


def client_address(request: web.Request) -> str | None:
    """The client's address: from a trusted proxy its `X-Forwarded-For` (first entry) or
    `X-Real-IP`, else the peer."""
    if from_trusted_proxy(request):
        claimed = first_entry(request.headers.get("X-Forwarded-For"))
        claimed = claimed or request.headers.get("X-Real-IP", "").strip()
        if claimed:
            return claimed
    return request.remote
