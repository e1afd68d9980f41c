"""The store plug-in boundary: a scheme registered from outside the gateway's own files works
end to end (options, secrets, routing, HTTP), and built-in schemes load only when used."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml
from aiohttp.test_utils import TestServer
from pydantic import SecretStr, ValidationError

from gateway import redact
from gateway.config import ConfigProblems, Settings, load_settings
from gateway.http.advertised import MULTIPART_UPLOADS, artifact_capabilities
from gateway.http.app import build_app
from gateway.routing.build import build_destinations
from gateway.stores import (
    ArtifactStore,
    ByteSource,
    DestinationOptions,
    Download,
    Entry,
    FileStat,
    StoreType,
    parse_options,
    registered,
)
from gateway.stores.body_reads import read_block
from gateway.stores.errors import NotFound
from tests.conftest import clean_env


class ToyOptions(DestinationOptions):
    colour: str = "grey"
    token: SecretStr | None = None
    token_file: Path | None = None


class ToyDownload(Download):
    def __init__(self, data: bytes, stat: FileStat) -> None:
        super().__init__(stat, 0, len(data))
        self._data = data

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._data

    async def close(self) -> None:
        pass


class ToyStore(ArtifactStore):
    """Files in a dict: the fewest primitives a store needs."""

    def __init__(self, options: ToyOptions, settings: Settings) -> None:
        super().__init__(options.uri)
        self.options = options
        self.files: dict[str, bytes] = {}

    async def stat(self, path: str) -> FileStat:
        if path not in self.files:
            raise NotFound(f"No such file: '{path}'", destination=self.name)
        return FileStat(len(self.files[path]), '"toy"', datetime.now(timezone.utc))

    async def open(self, path, byte_range) -> Download:
        stat = await self.stat(path)
        return ToyDownload(self.files[path], stat)

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        self.files[path] = await read_block(body, 1 << 20)

    async def list(self, path: str) -> list[Entry]:
        prefix = f"{path}/" if path else ""
        names = {p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)}
        return [Entry(n, f"{prefix}{n}" not in self.files, None) for n in sorted(names)]

    async def delete(self, path: str) -> None:
        self.files.pop(path, None)


TOY = StoreType(
    schemes=("toy",), options=ToyOptions, create=ToyStore, environment_secrets=("TOY_KEY",)
)


@pytest.fixture
def toy():
    with registered(TOY):
        yield TOY


def settings_with(tmp_path: Path, destinations: dict) -> Settings:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "destinations": destinations,
                "routes": [{"experiments": ["1"], "destination": "play"}],
            }
        )
    )
    return load_settings(["--config", str(config), "--artifacts-destination", str(tmp_path)])


def test_a_toy_scheme_plugs_in_with_its_own_options_and_secrets(toy, tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("toy-token-from-file-93d1\n")
    monkeypatch.setenv("TOY_KEY", "toy-env-key-5a7e")
    settings = settings_with(
        tmp_path, {"play": {"uri": "toy://box", "colour": "blue", "token_file": str(secret)}}
    )
    destinations = build_destinations(settings)
    store = destinations.stores["play"]
    assert isinstance(store, ToyStore) and store.name == "play"
    assert store.options.colour == "blue"
    assert store.options.token.get_secret_value() == "toy-token-from-file-93d1"
    assert redact.redact("toy-token-from-file-93d1 toy-env-key-5a7e") == "*** ***"
    assert destinations.for_path("1/run/artifacts/a.txt") is store

    app = build_app(settings, destinations)
    assert artifact_capabilities(app)[MULTIPART_UPLOADS] is False  # no MultipartUploads

    async def scenario() -> tuple[int, bytes, dict, int]:
        async with TestServer(app, host="127.0.0.1") as server:
            base = str(server.make_url("/api/2.0/mlflow-artifacts/artifacts"))
            put = await asyncio.to_thread(requests.put, f"{base}/1/r/a.txt", data=b"toy bytes")
            got = await asyncio.to_thread(requests.get, f"{base}/1/r/a.txt")
            listed = await asyncio.to_thread(requests.get, base, params={"path": "1/r"})
            missing = await asyncio.to_thread(requests.get, f"{base}/1/r/none")
            return put.status_code, got.content, listed.json(), missing.status_code

    put, content, listing, missing = asyncio.run(scenario())
    assert put == 200 and content == b"toy bytes"
    assert listing == {"files": [{"path": "a.txt", "is_dir": False, "file_size": None}]}
    assert missing == 404
    assert store.files == {"1/r/a.txt": b"toy bytes"}


def test_unknown_keys_are_refused_for_that_scheme_only(toy, tmp_path):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_options({"uri": "toy://box", "endpoint_url": "http://x"})  # an S3 key
    assert parse_options({"uri": "s3://b", "endpoint_url": "http://x"}).uri == "s3://b"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_options({"uri": "s3://b", "colour": "blue"})  # a toy key
    settings = settings_with(tmp_path, {"play": {"uri": "toy://box", "bogus": 1}})
    with pytest.raises(ConfigProblems) as raised:
        build_destinations(settings)
    assert raised.value.problems == ["destinations.play.bogus: Extra inputs are not permitted"]


def test_without_registration_the_scheme_is_unsupported(tmp_path):
    settings = settings_with(tmp_path, {"play": {"uri": "toy://box"}})
    with pytest.raises(ConfigProblems) as raised:
        build_destinations(settings)
    assert raised.value.problems[0].startswith("destinations.play: unsupported destination")


def _modules_loaded(destination: str, tmp_path: Path, *names: str) -> list[str]:
    """Which of `names` a gateway process has imported once its destinations are built."""
    code = (
        "import json, sys; from gateway.config import load_settings;"
        "from gateway.routing.build import build_destinations;"
        f"build_destinations(load_settings(['--artifacts-destination', {destination!r}]));"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({names!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_local_gateway_does_not_load_the_s3_or_pyarrow_backends(tmp_path):
    names = ("gateway.stores.s3", "aiobotocore", "gateway.stores.arrow", "pyarrow")
    assert _modules_loaded(str(tmp_path), tmp_path, *names) == []


def test_an_s3_gateway_does_not_load_pyarrow(tmp_path):
    loaded = _modules_loaded("s3://bucket/prefix", tmp_path, "gateway.stores.arrow", "pyarrow")
    assert loaded == []


def test_a_gcs_gateway_loads_its_own_scheme_only(tmp_path):
    """pyarrow comes with the store it serves; Azure's module and the S3 backend do not."""
    loaded = _modules_loaded("gs://bucket/prefix", tmp_path, "gateway.stores", "aiobotocore")
    assert "gateway.stores.arrow.gcs" in loaded and "gateway.stores.arrow.azure" not in loaded
    assert "pyarrow" in _modules_loaded("gs://bucket/prefix", tmp_path, "pyarrow")
    assert not any(name.startswith(("gateway.stores.s3", "aiobotocore")) for name in loaded)
