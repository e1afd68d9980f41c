"""The GCS store's keys, the implicit destination's environment (what MLflow's
`GCSArtifactRepository` reads), and its error funnel."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.config import load_settings
from gateway.stores import create_store, default_options, parse_options
from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    NotFound,
    RangeNotSatisfiable,
)
from gateway.stores.gcs import GcsNativeOptions
from gateway.stores.gcs.compose import GcsPresigningStore, GcsStore
from gateway.stores.gcs.errors import GcsHttpError, translate
from tests.helpers.gcs_keys import service_account_file


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return service_account_file(tmp_path_factory.mktemp("key"))


def test_the_implicit_destination_reads_mlflows_variables(key, tmp_path, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("MLFLOW_GCS_DEFAULT_TIMEOUT", "12")
    options = default_options("gs://bkt/ml")
    assert isinstance(options, GcsNativeOptions)
    assert options.credentials_file == key and options.timeout == 12
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    assert isinstance(create_store(options, settings), GcsPresigningStore)  # its key signs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    options = default_options("gs://bkt/ml")
    assert options.anonymous and options.endpoint_url == "http://127.0.0.1:4443"
    assert options.credentials_file is None
    assert type(create_store(options, settings)) is GcsStore  # no key: no presigning


def test_signing_key_option(key, tmp_path):
    settings = load_settings(["--artifacts-destination", str(tmp_path)])
    raw = {"uri": "gs://bkt/p", "anonymous": True, "endpoint_url": "http://127.0.0.1:1"}
    store = create_store(parse_options({**raw, "signing_credentials_file": str(key)}), settings)
    assert isinstance(store, GcsPresigningStore)
    with pytest.raises(ValueError, match="signing_credentials_file"):
        parse_options({**raw, "signing_credentials_file": str(tmp_path / "none.json")})


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (GcsHttpError(404, "notFound"), NotFound),
        (GcsHttpError(403, "forbidden"), CredentialsRefused),
        (GcsHttpError(401, ""), CredentialsRefused),
        (GcsHttpError(416, "requestedRangeNotSatisfiable"), RangeNotSatisfiable),
        (GcsHttpError(400, "invalid"), InvalidRequest),
        (GcsHttpError(429, "rateLimitExceeded"), DestinationUnavailable),
        (GcsHttpError(503, "backendError"), DestinationUnavailable),
        (aiohttp.ClientConnectorError(None, OSError(111, "refused")), DestinationUnavailable),
        (TimeoutError(), DestinationUnavailable),
    ],
)
def test_failures_become_store_errors_naming_the_destination(exc, kind):
    error = translate(exc, "gs://bkt/p", "dest", "a/b.txt")
    assert type(error) is kind and error.destination == "dest"
    assert "Bearer" not in error.message
