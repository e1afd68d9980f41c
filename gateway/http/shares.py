"""Whose share of the gateway a request uses, and the limit on how many requests one share has
in flight.

The share is the authenticated user, else the client's address; a part link is a share of its
own (its PUTs carry no credentials, and one leaked link must not take its address's whole
share, nor an address's other uploads its). The budget (`stores/budget`), the rate floors
(`http/timeouts`) and the tracking server's pool (`upstream/client`) all key on `share_key`,
so a new source of identity is added here, once.
"""

from __future__ import annotations

import collections

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.auth.policy import known_user
from gateway.errors import Busy
from gateway.forwarded import client_address
from gateway.links.urls import PART_ROUTE
from gateway.stores.budget import Share, bind_share, unbind_share

SHARE = web.RequestKey("share", Share)


def share_key(request: web.Request) -> str:
    """`user:<name>`, `link:<part link>` or `addr:<client address>`."""
    if (user := known_user(request)) is not None:
        return f"user:{user.name}"
    if PART_ROUTE in request.path:
        query = request.query
        return f"link:{request.path}?{query.get('upload_id', '')}&{query.get('part_number', '')}"
    return f"addr:{client_address(request) or '-'}"


def share_of(request: web.Request) -> Share | None:
    """The request's share, once `fair_share` has bound it (after the guard identified it)."""
    return request.get(SHARE)


def fair_share(max_requests: int) -> Middleware:
    """After the guard: binds the request's budget share and refuses (429) a share's request
    beyond `max_requests` in flight, before anything is read or passed on."""
    in_flight: collections.Counter[str] = collections.Counter()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        share = Share(share_key(request))
        if in_flight[share.key] >= max_requests:
            raise Busy(f"Too many requests in flight from one user (at most {max_requests})")
        request[SHARE] = share
        in_flight[share.key] += 1
        token = bind_share(share)
        try:
            return await handler(request)
        finally:
            unbind_share(token)
            in_flight[share.key] -= 1
            if not in_flight[share.key]:
                del in_flight[share.key]

    return middleware
