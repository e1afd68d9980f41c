"""gateway/upstream/client.py: one share may hold at most `max_connections_per_user` of the
tracking server's pool (issue 23: 100 dripping `runs/search` took it all)."""

from __future__ import annotations

import pytest

from gateway.config import UpstreamProxy
from gateway.errors import Busy
from gateway.stores.budget import Share, bind_share, unbind_share
from gateway.upstream.client import Upstream


def _as(key: str):
    return bind_share(Share(key))


def test_a_share_past_its_connections_gets_429_while_others_still_connect():
    upstream = Upstream("http://127.0.0.1:9", UpstreamProxy(max_connections_per_user=2))
    token = _as("addr:10.0.0.5")
    try:
        with upstream.slot(), upstream.slot():
            with pytest.raises(Busy), upstream.slot():
                pass
            other = _as("addr:10.0.0.6")
            try:
                with upstream.slot():
                    pass
            finally:
                unbind_share(other)
        with upstream.slot():  # given back once the exchanges ended
            pass
    finally:
        unbind_share(token)


def test_work_outside_a_request_is_not_limited():
    upstream = Upstream("http://127.0.0.1:9", UpstreamProxy(max_connections_per_user=1))
    with upstream.slot(), upstream.slot():
        pass
