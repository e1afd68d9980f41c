"""Session fixtures for the emulators, registered in tests/conftest.py by importing them:
`from tests.backends.fixtures import azurite, fake_gcs` (with `# noqa: F401`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends.azurite import Azurite
from tests.backends.gcs import FakeGcs

GCS_BUCKET = "artifacts"
AZURE_CONTAINER = "artifacts"


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcs]:
    """fake-gcs-server with the bucket `artifacts`."""
    server = FakeGcs(tmp_path_factory.mktemp("fake-gcs")).start()
    try:
        server.create_bucket(GCS_BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service with the container `artifacts` (installed on first use)."""
    server = Azurite(tmp_path_factory.mktemp("azurite")).start()
    try:
        server.create_container(AZURE_CONTAINER)
        yield server
    finally:
        server.stop()
