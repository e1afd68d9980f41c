"""The identity an authenticating proxy (oauth2-proxy, `--set-xauthrequest` or
`--pass-user-headers`) puts in its headers: believed only from `--trusted-proxies` peers.

The caller of `identity` decides trust (`forwarded.from_trusted_proxy`); from any other peer
these headers are claims anyone can make, so they are never read and the passthrough drops
them (`forwarded.PROXY_HEADERS`).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.auth.identity import PROXY, Identity
from gateway.auth.source_config import ProxyHeaders

# oauth2-proxy's names (docs: "Configuring for use with the Nginx auth_request directive" and
# `--pass-user-headers`); the passthrough drops every one of them from untrusted peers.
IDENTITY_HEADERS = (
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
)
_MAX_GROUPS = 256


def identity(headers: Mapping[str, str], config: ProxyHeaders) -> Identity | None:
    """The user the first present `user_from` header names, with the groups; None without."""
    name = next((v.strip() for h in config.user_from if (v := headers.get(h, "")).strip()), None)
    if name is None:
        return None
    groups: set[str] = set()
    for header in config.groups_from:
        groups.update(g.strip() for g in headers.get(header, "").split(",") if g.strip())
    return Identity(name, PROXY, frozenset(sorted(groups)[:_MAX_GROUPS]))
