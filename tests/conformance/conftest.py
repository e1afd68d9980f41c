"""One gateway per destination kind in `destinations.BACKENDS`, shared by the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.destinations import BACKENDS, Destination


@pytest.fixture(scope="session", params=sorted(BACKENDS))
def destination(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Destination]:
    backend = BACKENDS[request.param]
    with backend.start(request, tmp_path_factory.mktemp(f"conformance-{request.param}")) as dest:
        yield dest
