"""gateway/http/routes/tracking_presigned.py: the expiry a client asks for is capped by
`--multipart.url-ttl` (review finding 6: a 7-day URL from a gateway configured for 300 s)."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.config import Multipart
from gateway.errors import InvalidParameter
from gateway.http.routes.shared import MULTIPART
from gateway.http.routes.tracking_presigned import _expiration
from tests.helpers.mocked import request_from


def _request(url_ttl: int) -> web.Request:
    app = web.Application()
    app[MULTIPART] = Multipart(url_ttl=url_ttl)
    return request_from("127.0.0.1", method="POST", app=app)


@pytest.mark.parametrize(("asked", "granted"), [(604800, 300), (301, 300), (300, 300), (60, 60)])
def test_the_url_ttl_caps_the_expiry_a_client_asks_for(asked, granted):
    assert _expiration(_request(300), {"expiration": asked}, 900) == granted


def test_the_default_expiry_is_capped_too():
    assert _expiration(_request(300), {}, 900) == 300


@pytest.mark.parametrize("asked", [0, 604801, "soon"])
def test_expiries_outside_mlflows_bounds_are_still_refused(asked):
    with pytest.raises(InvalidParameter):
        _expiration(_request(300), {"expiration": asked}, 900)
