"""gateway/http/bodies.py: `CappedBody` streams a body and fails past its cap (the UI's
`upload-artifact`, issue 23 finding 2: it buffered 10 MB per request outside the budget)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from gateway.errors import InvalidParameter
from gateway.http.bodies import CappedBody


def _too_large(size: int) -> InvalidParameter:
    return InvalidParameter(f"too large: {size}")


async def _read_all(body: bytes, limit: int, length: int | None) -> bytes:
    reader = StreamReader(mock.Mock(), 2**16, loop=asyncio.get_running_loop())
    reader.feed_data(body)
    reader.feed_eof()
    headers = {} if length is None else {"Content-Length": str(length)}
    request = make_mocked_request("POST", "/x", headers=headers, payload=reader)
    capped, out = CappedBody(request, limit, _too_large), b""
    while piece := await capped.read(4):
        out += piece
    return out


def test_a_body_within_the_cap_streams_through():
    assert asyncio.run(_read_all(b"0123456789", 10, None)) == b"0123456789"


def test_a_declared_length_over_the_cap_is_refused_before_a_byte_is_read():
    with pytest.raises(InvalidParameter, match="too large: 11"):
        asyncio.run(_read_all(b"", 10, 11))


def test_a_body_without_a_length_fails_once_past_the_cap():
    with pytest.raises(InvalidParameter, match="too large: 12"):
        asyncio.run(_read_all(b"0123456789ab", 10, None))
