"""Cross-site writes refused, as MLflow (3.5 and later) refuses them: against CSRF.

A page elsewhere can make a browser POST a "simple" request (`text/plain`, no preflight) with the
Basic credentials it holds for the gateway: that could complete or abort someone's upload, or
log an artifact. A browser names the page's origin in `Origin` on every POST, PUT, DELETE and
PATCH, so a write whose origin is not the gateway itself, localhost, or allowed with
`--cors-allowed-origins` (MLflow's flag) is refused before credentials or a body are read.
Clients other than browsers send no `Origin` and are not affected.
"""

from __future__ import annotations

import fnmatch
import logging
import urllib.parse
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import PermissionDenied
from gateway.forwarded import client_host

log = logging.getLogger(__name__)

CORS_BLOCKED = "Cross-origin request blocked"  # MLflow's words (mlflow/server/security_utils.py)
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_LOCALHOST = frozenset({"localhost", "127.0.0.1", "::1"})


class AllowedOrigins:
    """`patterns` as given to --cors-allowed-origins (`*` wildcards; `*` alone: any origin)."""

    def __init__(self, patterns: Iterable[str] | None, own: Iterable[str] = ()) -> None:
        self.patterns = [p.strip().lower().rstrip("/") for p in patterns or ()]
        self.anything = "*" in self.patterns
        self.own = {name.lower() for name in own}

    def allows(self, origin: str, host: str | None) -> bool:
        if self.anything:
            return True
        origin = origin.strip().lower()
        try:
            parsed = urllib.parse.urlsplit(origin)
            hostname = parsed.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            return False
        if parsed.scheme in ("http", "https") and parsed.netloc:
            if hostname in _LOCALHOST or parsed.netloc in self.own:
                return True
            if host and parsed.netloc == host.lower():  # the gateway's own pages
                return True
        return any(
            fnmatch.fnmatchcase(origin, p) if "*" in p else origin == p for p in self.patterns
        )


ALLOWED_ORIGINS = web.AppKey("allowed_origins", AllowedOrigins)


@web.middleware
async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is None or request.method not in WRITES:
        return await handler(request)
    if request.app[ALLOWED_ORIGINS].allows(origin, client_host(request)):
        return await handler(request)
    log.warning("refused %s %s: Origin %r", request.method, request.path, origin[:200])
    raise PermissionDenied(CORS_BLOCKED)
