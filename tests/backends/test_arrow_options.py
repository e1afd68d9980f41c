"""Each pyarrow scheme's options, in the URI forms MLflow users write, down to the keyword
arguments its filesystem is built with (secrets included: these are what reach pyarrow)."""

from __future__ import annotations

import datetime
import os

import pytest
from pydantic import ValidationError

from gateway.stores import default_options, parse_options
from gateway.stores.arrow import azure, gcs
from gateway.stores.options import InvalidDestination

pytestmark = pytest.mark.slow

KEY = "a2V5LWZvci10ZXN0cy1vbmx5"


def test_azure_uri_forms_and_credentials():
    wasbs = parse_options(
        {"uri": "wasbs://models@nlpaccount.blob.core.windows.net/ml", "account_key": KEY}
    )
    assert azure.parse_azure_uri(wasbs.uri) == ("models", "nlpaccount", "core.windows.net", "ml")
    assert azure.filesystem_arguments(wasbs) == {"account_name": "nlpaccount", "account_key": KEY}
    abfss = parse_options(
        {"uri": "abfss://lake@acct.dfs.core.windows.net", "sas_token": "?sv=1&sig=x"}
    )
    assert azure.filesystem_arguments(abfss) == {"account_name": "acct", "sas_token": "sv=1&sig=x"}
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    via = parse_options(
        {
            "uri": "wasbs://c@devstoreaccount1.blob.core.windows.net/p",
            "connection_string": connection,
        }
    )
    assert azure.filesystem_arguments(via) == {
        "account_name": "devstoreaccount1",
        "account_key": KEY,
        "blob_storage_authority": "127.0.0.1:10000",
        "blob_storage_scheme": "http",
        "dfs_storage_authority": "127.0.0.1:10000",
        "dfs_storage_scheme": "http",
    }
    assert KEY in via.secrets()  # masked alone, not only as part of the connection string
    for bad in ("wasbs://nlpaccount.blob.core.windows.net/ml", "wasbs://c@example.com/ml"):
        with pytest.raises(InvalidDestination, match="is not wasbs://"):
            azure.parse_azure_uri(bad)
    with pytest.raises(ValidationError, match="give one of"):
        parse_options({"uri": wasbs.uri, "account_key": KEY, "sas_token": "sv=1"})


def test_azure_reads_mlflows_variables_for_the_implicit_destination(monkeypatch):
    uri = "wasbs://c@acct.blob.core.windows.net/p"
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCESS_KEY", KEY)
    assert azure.filesystem_arguments(default_options(uri))["account_key"] == KEY
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", f"AccountName=other;AccountKey={KEY}x")
    assert azure.filesystem_arguments(default_options(uri)) == {
        "account_name": "other",
        "account_key": KEY + "x",
    }


def test_gcs_options(tmp_path):
    options = parse_options(
        {
            "uri": "gs://b/ml",
            "project": "p",
            "endpoint_url": "http://127.0.0.1:4443",
            "anonymous": True,
        }
    )
    assert gcs.parse_gs_uri(options.uri) == ("b", "ml")
    assert gcs.filesystem_arguments(options) == {
        "anonymous": True,
        "retry_time_limit": datetime.timedelta(seconds=15),
        "project_id": "p",
        "scheme": "http",
        "endpoint_override": "127.0.0.1:4443",
    }
    with pytest.raises(ValidationError, match="cannot read credentials_file"):
        parse_options({"uri": "gs://b", "credentials_file": str(tmp_path / "missing.json")})
    (tmp_path / "sa.json").write_text("{}")
    with pytest.raises(ValidationError, match="not both"):
        parse_options(
            {"uri": "gs://b", "credentials_file": str(tmp_path / "sa.json"), "anonymous": True}
        )
    with pytest.raises(ValidationError, match="Extra inputs"):
        parse_options({"uri": "gs://b", "account_key": KEY})  # an Azure key


def test_gcs_credentials_file_is_set_only_around_the_constructor(tmp_path, monkeypatch):
    from pyarrow import fs as pafs

    seen = []
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setattr(
        pafs,
        "GcsFileSystem",
        lambda **kw: seen.append(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")),
    )
    (tmp_path / "sa.json").write_text("{}")
    options = parse_options({"uri": "gs://b", "credentials_file": str(tmp_path / "sa.json")})
    gcs._connect(options)
    assert seen == [str(tmp_path / "sa.json")]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in os.environ
