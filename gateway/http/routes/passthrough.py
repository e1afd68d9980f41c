"""Every route the gateway does not answer itself is streamed to the tracking server and back.

Bodies flow chunk by chunk in both directions (aiohttp's flow control bounds memory), compressed
bodies stay compressed, and the artifact namespace never leaves the gateway. Requests that match
no route get the `Passthrough` rule from `http.guard` before anything is forwarded.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.auth.policy import enforce_on_passthrough
from gateway.errors import InvalidParameter
from gateway.http.guard import UNMATCHED, Rule
from gateway.http.routes.shared import ARTIFACT_PREFIXES
from gateway.http.timeouts import SendStalled, send_within
from gateway.upstream.client import UPSTREAM, Upstream
from gateway.upstream.headers import end_to_end

log = logging.getLogger(__name__)

_OWN_PATHS = frozenset({"/health", "/ready", "/version"})


def is_own_path(path: str) -> bool:
    """Paths only the gateway answers, even when no route of its own matches the method."""
    return path in _OWN_PATHS or any(
        path == prefix or path.startswith(prefix + "/") for prefix in ARTIFACT_PREFIXES
    )


async def forward(
    request: web.Request, upstream: Upstream, read: bytes | None = None
) -> web.StreamResponse:
    """Streams the request to the upstream and its answer back, status and headers unchanged;
    `read` is the body when a handler has read it already."""
    with upstream.slot():
        return await _forward(request, upstream, read)


async def _forward(
    request: web.Request, upstream: Upstream, read: bytes | None
) -> web.StreamResponse:
    body = read if read is not None else request.content if request.body_exists else None
    url = upstream.url(request.rel_url.raw_path, request.rel_url.raw_query_string)
    answer = await upstream.open(request.method, url, upstream.headers_for(request), body)
    async with answer:
        response = web.StreamResponse(
            status=answer.status, reason=answer.reason, headers=end_to_end(answer.headers)
        )
        await response.prepare(request)
        started, sent = asyncio.get_running_loop().time(), 0
        try:
            async for chunk in answer.content.iter_any():
                sent += len(chunk)
                await send_within(request, response.write(chunk), started, sent)
        except ConnectionResetError:
            log.debug("client went away during %s %s", request.method, request.path)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # Status and headers are out; only a closed connection can tell the client.
            stalled = isinstance(exc, SendStalled)
            who = "the client" if stalled else "upstream"
            log.warning("%s broke off %s %s: %s", who, request.method, request.path, exc)
            response.force_close()
            if request.transport is not None:  # abort: a client not reading takes no flush
                (request.transport.abort if stalled else request.transport.close)()
            return response
    await response.write_eof()
    return response


class Passthrough(Rule):
    """Unmatched requests to the tracking server: a known user when `enforce_on_passthrough`.
    The gateway's own paths go nowhere (their 404 or 405 follows), so they need nothing."""

    async def check(self, request: web.Request) -> None:
        if not is_own_path(request.path):
            enforce_on_passthrough(request)


def install_passthrough(app: web.Application) -> None:
    app[UNMATCHED] = Passthrough()


@web.middleware
async def passthrough(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Requests no gateway route matched go upstream, unless the path is the gateway's own."""
    upstream = request.app.get(UPSTREAM)
    unmatched = request.match_info.http_exception is not None
    if upstream is not None and unmatched and not is_own_path(request.path):
        if not request.rel_url.raw_path.startswith("/"):  # `OPTIONS *` (RFC 9112 3.2.4)
            raise InvalidParameter("The request target must be a path")
        return await forward(request, upstream)
    return await handler(request)
