"""Every aiohttp internal the gateway relies on, each with the aiohttp source it mirrors.

Written against aiohttp 3.14 (`aiohttp>=3.14` in pyproject.toml; checked on 3.14.5). The rest
of the gateway touches none of these names: it calls what is here. The tests in
`tests/unit/http/test_aiohttp_internals.py` check each against the installed aiohttp, so an
upgrade that renames or reshapes one fails there, loudly, rather than in production.

- `StreamReader._timer` (aiohttp/streams.py: set in `StreamReader.__init__`, entered by
  `StreamReader._wait` around every wait for data, checked by `_read_nowait`). On the server
  side aiohttp leaves it a `TimerNoop`; `set_body_timer` puts the gateway's body idle timer
  there (`http.timeouts.body_idle_timeout`), as no public hook bounds a wait for body bytes.
  Its base class, `BaseTimerContext`, is in aiohttp/helpers.py.
- `RequestHandler._waiter` (aiohttp/web_protocol.py: `RequestHandler.start` awaits it between
  requests; `_process_keepalive` closes an idle connection only while it is pending).
  `awaiting_head` tests it, for the header timeout aiohttp lacks (`http.timeouts`).
- `RequestHandler._request_count` (aiohttp/web_protocol.py: `data_received` adds one per
  request head the parser completes). `heads_parsed` reads it, so the header timer stops when
  a head is complete.
- `expect_100_continue` is a copy of `_default_expect_handler` (aiohttp/web_urldispatcher.py):
  passing our own `expect_handler=` to `add_route` replaces aiohttp's, and the guard
  (`http.guard`) decides before the interim answer, then answers as aiohttp would.
- `ETag` and `ETAG_ANY` (aiohttp/helpers.py): what `Request.if_match`/`if_none_match` hold and
  the `*` value; `aiohttp.web` does not export them (`http.files`).

Relied on as behaviour, with no private name to hold here: `http.splice` writes the body to
the transport's socket itself once aiohttp has flushed the prepared headers, which holds
because `StreamResponse.write_eof` of a Content-Length response sends nothing more
(aiohttp/http_writer.py: `StreamWriter.write_eof` adds bytes only for chunked encoding or
compression). `tests/test_splice.py` checks the bytes a client receives end to end.
"""

from __future__ import annotations

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.helpers import ETAG_ANY, BaseTimerContext, ETag
from aiohttp.streams import StreamReader

__all__ = [
    "ETAG_ANY",
    "BaseTimerContext",
    "ETag",
    "awaiting_head",
    "expect_100_continue",
    "heads_parsed",
    "set_body_timer",
]


def set_body_timer(reader: StreamReader, timer: BaseTimerContext) -> None:
    """`timer` is entered around each wait for body bytes; its `assert_timeout` may raise."""
    reader._timer = timer


def awaiting_head(handler: web.RequestHandler) -> bool:
    """The connection waits for the next request's head (aiohttp's own idle condition)."""
    waiter = handler._waiter
    return waiter is not None and not waiter.done()


def heads_parsed(handler: web.RequestHandler) -> int:
    """Request heads completed on this connection so far."""
    return handler._request_count


async def expect_100_continue(request: web.Request) -> None:
    """aiohttp's `_default_expect_handler`: `100 Continue` for HTTP/1.1 `100-continue`, 417
    for any other expectation, nothing for HTTP/1.0."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11:
        if expect.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer's own size starts after the interim one
        else:
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
