"""`/ready` asks each cloud store's `check`: an existing bucket or container passes, a missing
one is a `DestinationUnavailable` that names the destination, never a `NotFound` (which would
read as a missing artifact)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.stores import create_store, parse_options
from gateway.stores.errors import DestinationUnavailable
from tests.backends.fixtures import AZURE_CONTAINER, GCS_BUCKET
from tests.conformance.destinations import azure_destination, gcs_destination
from tests.helpers.store_calls import run

pytestmark = pytest.mark.slow


def destinations(request: pytest.FixtureRequest, kind: str) -> tuple[dict, str]:
    """The raw destination on the running emulator, and its bucket/container name."""
    prefix = f"ready-{uuid.uuid4().hex[:8]}"
    if kind == "gcs":
        return gcs_destination(request.getfixturevalue("fake_gcs").url, prefix), GCS_BUCKET
    authority = request.getfixturevalue("azurite").authority
    return azure_destination(authority, prefix), AZURE_CONTAINER


def checked(raw: dict, tmp_path: Path) -> None:
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    store = create_store(parse_options(raw), settings)
    run(store, store.check)


@pytest.mark.parametrize(("kind", "word"), [("gcs", "bucket"), ("azure", "container")])
def test_check_passes_on_the_bucket_and_names_a_missing_one(request, tmp_path, kind, word):
    raw, name = destinations(request, kind)
    checked(raw, tmp_path)
    missing = f"missing{uuid.uuid4().hex[:8]}"
    raw["uri"] = raw["uri"].replace(name, missing, 1)
    with pytest.raises(DestinationUnavailable) as caught:
        checked(raw, tmp_path)
    assert caught.value.message.startswith(f"{raw['uri']}: {word} unavailable (")
    assert caught.value.destination and missing in caught.value.message
