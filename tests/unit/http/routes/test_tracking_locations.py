"""gateway/http/routes/tracking_locations.py: locations on the tracking server's disk are
refused unless the operator allows them (review finding 7)."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.config import UpstreamProxy
from gateway.errors import PermissionDenied
from gateway.http.routes.tracking_locations import refuse_local
from gateway.upstream.client import UPSTREAM, Upstream
from tests.helpers.mocked import request_from


def _request(allow: bool) -> web.Request:
    app = web.Application()
    app[UPSTREAM] = Upstream("http://127.0.0.1:9", UpstreamProxy(allow_local_locations=allow))
    return request_from("127.0.0.1", app=app)


@pytest.mark.parametrize(
    "location", ["file:///srv/mlruns/1/abc/artifacts", "/srv/mlruns/1", "mlruns/1", "C:\\mlruns"]
)
def test_local_locations_are_refused_by_default_and_passed_when_allowed(location):
    with pytest.raises(PermissionDenied):
        refuse_local(_request(allow=False), location)
    refuse_local(_request(allow=True), location)


@pytest.mark.parametrize(
    "location", ["s3://bucket/1/abc", "mlflow-artifacts:/1/abc", "http://gw:5500/api/x"]
)
def test_remote_locations_pass(location):
    refuse_local(_request(allow=False), location)
