"""The Host check against DNS rebinding, as MLflow's `--allowed-hosts` (3.5 and later).

A page on a name its author controls can re-point that name at the gateway's address; the
browser then sends the author's name as `Host`. Only the names clients really use are let in.
The upstream never sees the client's `Host`, so this check is the only one that can tell.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import PermissionDenied
from gateway.forwarded import client_host

log = logging.getLogger(__name__)

# MLflow's words and its exempt paths (mlflow/server/security_utils.py).
INVALID_HOST = "Invalid Host header - possible DNS rebinding attack detected"
EXEMPT_PATHS = frozenset({"/health", "/version"})
# MLflow's default: localhost names and addresses, and the private ranges, on any port.
_LOCAL_NAMES = frozenset({"localhost"})
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_HOST_PORT = re.compile(r"^(\[[^\]]*\]|[^:\[\]]*)(:\d{1,5})?$")


def _local_or_private(host: str) -> bool:
    """`localhost`, a loopback, unspecified or private address literal, with any port.

    Literals are parsed rather than matched as MLflow's `10.*` patterns, which would also let in
    a name such as `10.attacker.example` that a rebinding page can use.
    """
    match = _HOST_PORT.match(host)
    if not match:
        return False
    name = match.group(1)
    if name in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return False
    if name.startswith("[") != (address.version == 6):
        return False
    return (
        address.is_loopback
        or address.is_unspecified
        or any(address in network for network in _PRIVATE)
    )


def own_names(public_url: str | None, gateway_hosts: Iterable[str]) -> list[str]:
    """The names the gateway is configured to be reached by: always allowed."""
    names = [host.lower() for host in gateway_hosts]
    if public_url:
        parsed = urllib.parse.urlsplit(public_url)
        names.append(parsed.netloc.lower())
        if parsed.hostname and parsed.port in (None, 80, 443):
            names.append(parsed.hostname.lower())  # browsers leave a default port out
    return names


class AllowedHosts:
    """`patterns` as given to --allowed-hosts (None: MLflow's default); `own` always pass."""

    def __init__(self, patterns: list[str] | None, own: Iterable[str] = ()) -> None:
        self.default = patterns is None
        self.anything = patterns is not None and "*" in patterns
        self.patterns = [p.lower() for p in (patterns or [])] + [o.lower() for o in own]

    def allows(self, host: str | None) -> bool:
        if self.anything:
            return True
        if not host:
            return False
        host = host.lower()
        if self.default and _local_or_private(host):
            return True
        return any(
            fnmatch.fnmatchcase(host, pattern) if "*" in pattern else host == pattern
            for pattern in self.patterns
        )


ALLOWED_HOSTS = web.AppKey("allowed_hosts", AllowedHosts)


@web.middleware
async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 in MLflow's words for a foreign Host, before credentials or a body are read."""
    allowed = request.app[ALLOWED_HOSTS]
    host = client_host(request)
    if request.path in EXEMPT_PATHS or allowed.allows(host):
        return await handler(request)
    shown = host if host is None else host[:200]
    log.warning("refused %s %s: Host %r is not allowed", request.method, request.path, shown)
    raise PermissionDenied(INVALID_HOST)
