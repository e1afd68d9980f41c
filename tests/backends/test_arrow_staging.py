"""The pyarrow store's staging objects: hidden from listings, refused as artifact paths, and
removed by age in the cleanup pass, on each pyarrow backend (GCS and Azure emulators, pyarrow's
local filesystem). A staging object is what a gateway killed mid-upload leaves behind."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from pyarrow import fs as pafs

from gateway.config import load_settings
from gateway.routing.destinations import Destinations
from gateway.stores import create_store, parse_options, registered
from gateway.stores.arrow import azure as arrow_azure
from gateway.stores.arrow import gcs as arrow_gcs
from gateway.stores.arrow.store import ArrowStore
from gateway.stores.cleanup import cleanup_pass
from gateway.stores.errors import InvalidRequest
from gateway.stores.staged_names import TEMP_PREFIX
from tests.conformance import arrow_local
from tests.conformance.destinations import azure_destination, gcs_destination

pytestmark = pytest.mark.slow


class OneRead:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data


@pytest.fixture(params=["gcs", "azure", "pyarrow-local"])
def store(request, tmp_path: Path):
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    prefix = f"staging-{uuid.uuid4().hex[:8]}"
    if request.param == "gcs":
        # gs:// is the native store's (gateway.stores.gcs): the pyarrow one, built directly
        raw = gcs_destination(request.getfixturevalue("fake_gcs").url, prefix)
        yield arrow_gcs.STORE_TYPE.create(arrow_gcs.GcsOptions.model_validate(raw), settings)
    elif request.param == "azure":
        # wasbs:// is the aio store's (gateway.stores.azure): the pyarrow one, built directly
        raw = azure_destination(request.getfixturevalue("azurite").authority, prefix)
        yield arrow_azure.STORE_TYPE.create(parse_options(raw), settings)
    else:
        with registered(arrow_local.STORE_TYPE):
            yield create_store(parse_options({"uri": f"arrow-local://{tmp_path}/root"}), settings)


def test_stale_staging_objects_are_hidden_refused_and_cleaned(store: ArrowStore):
    async def scenario() -> None:
        await store.check()
        fs = await store._filesystem("")
        stale = f"{store.base}/{TEMP_PREFIX}.{uuid.uuid4().hex}"
        with fs.open_output_stream(stale) as out:  # what a killed gateway leaves
            out.write(b"partial")
        await store.write("1/kept.txt", OneRead(b"kept"))
        name = stale.rsplit("/", 1)[1]
        assert [e.name for e in await store.list("")] == ["1"]
        for path in (name, f"{name}/x", f"{TEMP_PREFIX}s/x"):
            with pytest.raises(InvalidRequest, match="temp files are reserved"):
                await store.stat(path)
        # Younger than the age: kept. Older (the cutoff moved past it): removed, once.
        assert await store.remove_stale(datetime.now(timezone.utc) - timedelta(1)) == 0
        assert fs.get_file_info(stale).type == pafs.FileType.File
        later = datetime.now(timezone.utc) + timedelta(minutes=5)
        assert await store.remove_stale(later) == 1
        assert fs.get_file_info(stale).type == pafs.FileType.NotFound
        assert fs.get_file_info(f"{store.base}/1/kept.txt").type == pafs.FileType.File
        await store.delete("1")

    asyncio.run(scenario())


def test_the_cleanup_pass_counts_staging_objects(store: ArrowStore):
    async def scenario() -> int:
        fs = await store._filesystem("")
        if store.traits.makes_dirs:
            fs.create_dir(store.base, recursive=True)
        with fs.open_output_stream(f"{store.base}/{TEMP_PREFIX}.{uuid.uuid4().hex}") as out:
            out.write(b"partial")
        return await cleanup_pass(Destinations(store), max_age=-300)

    assert asyncio.run(scenario()) == 1


def test_staging_names_are_refused_over_http(gateway_over_arrow_local):
    api = gateway_over_arrow_local
    for path in (f"{TEMP_PREFIX}.{'a' * 32}", f"{TEMP_PREFIX}s/1/x"):
        resp = requests.put(f"{api}/{path}", data=b"x", timeout=30)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.fixture
def gateway_over_arrow_local(tmp_path):
    from tests.conformance.destinations import REPO, start_configured

    destination = {"uri": f"arrow-local://{tmp_path}/root"}
    process, url = start_configured(
        tmp_path, destination, module="tests.conformance.arrow_local", PYTHONPATH=str(REPO)
    )
    try:
        yield f"{url}/api/2.0/mlflow-artifacts/artifacts"
    finally:
        process.stop()
