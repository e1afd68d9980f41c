"""aiohttp requests for request-level unit tests: a real Application (so app keys work) and a
transport that reports the peer the test names, via aiohttp's own `make_mocked_request`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.forwarded import TRUSTED_PROXIES, TrustedProxies


def app_trusting(proxies: Iterable[str] = ()) -> web.Application:
    app = web.Application()
    app[TRUSTED_PROXIES] = TrustedProxies(proxies)
    return app


def request_from(
    peer: str | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    *,
    trusted: Iterable[str] = (),
    method: str = "GET",
    path: str = "/",
    app: web.Application | None = None,
) -> web.Request:
    """A request whose connection comes from `peer` (None: no peer address, e.g. a UNIX socket)
    to a gateway that trusts the proxies `trusted`."""
    transport = mock.Mock()
    extra = {"peername": (peer, 40000) if peer else None, "sockname": ("127.0.0.1", 5500)}
    transport.get_extra_info.side_effect = lambda key, default=None: extra.get(key, default)
    return make_mocked_request(
        method, path, headers=headers, app=app or app_trusting(trusted), transport=transport
    )
