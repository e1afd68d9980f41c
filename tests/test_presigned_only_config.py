"""Presigned-only destinations: only those that presign storage URLs, refused at start-up else."""

from __future__ import annotations

import pytest

from gateway.config import ConfigProblems, load_settings
from gateway.routing.build import build_destinations
from tests.helpers.cli import write_config


def test_a_local_destination_cannot_be_presigned_only(tmp_path):
    config = {
        "destinations": {
            "vision": {"uri": "s3://bucket/v", "artifacts_presigned_only": True},
            "archive": {"uri": str(tmp_path / "a"), "artifacts_presigned_only": True},
        },
        "routes": [{"experiments": ["1"], "destination": "vision"}],
        "default_destination": "archive",
    }
    settings = load_settings(["--config", str(write_config(tmp_path, config))])
    with pytest.raises(ConfigProblems) as refused:
        build_destinations(settings)
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith("destinations.archive: artifacts_presigned_only")


def test_the_flag_makes_every_destination_presigned_only(tmp_path):
    settings = load_settings(
        ["--artifacts-destination", "s3://bucket/p", "--artifacts-presigned-only"]
    )
    assert [s.presigned_only for s in build_destinations(settings).all()] == [True]
    local = load_settings(["--artifacts-destination", str(tmp_path), "--artifacts-presigned-only"])
    with pytest.raises(ConfigProblems, match="--artifacts-destination: artifacts_presigned_only"):
        build_destinations(local)


def test_destinations_are_proxied_by_default(tmp_path):
    settings = load_settings(["--artifacts-destination", "s3://bucket/p"])
    assert [s.presigned_only for s in build_destinations(settings).all()] == [False]


def test_azure_is_presigned_only_with_an_account_key_and_refused_with_a_sas_token(tmp_path):
    """Azure presigns with account-key SAS tokens; a SAS-token destination has no key to sign
    with, so it is refused like a local one."""
    uri = "wasbs://box@acct.blob.core.windows.net/p"
    config = {
        "destinations": {
            "keyed": {"uri": uri, "account_key": "a2V5", "artifacts_presigned_only": True},
            "sas": {"uri": uri, "sas_token": "sv=1&sig=x", "artifacts_presigned_only": True},
        },
        "routes": [{"experiments": ["1"], "destination": "keyed"}],
        "default_destination": "sas",
    }
    settings = load_settings(["--config", str(write_config(tmp_path, config))])
    with pytest.raises(ConfigProblems) as refused:
        build_destinations(settings)
    assert [p.split(":")[0] for p in refused.value.problems] == ["destinations.sas"]
    del config["destinations"]["sas"]
    config["default_destination"] = "keyed"
    settings = load_settings(["--config", str(write_config(tmp_path, config))])
    assert [s.presigned_only for s in build_destinations(settings).all()] == [True]


def test_gcs_is_presigned_only_with_a_signing_key_and_refused_without(tmp_path):
    """GCS presigns V4 URLs with a service-account key; an anonymous or default-chain
    destination has none, so it is refused like a local one."""
    from tests.helpers.gcs_keys import service_account_file

    key = str(service_account_file(tmp_path))
    base = {"anonymous": True, "endpoint_url": "http://127.0.0.1:1"}
    config = {
        "destinations": {
            "keyed": {"uri": "gs://b/k", "signing_credentials_file": key, **base},
            "bare": {"uri": "gs://b/n", **base},
        },
        "routes": [{"experiments": ["1"], "destination": "keyed"}],
        "default_destination": "bare",
    }
    for destination in config["destinations"].values():
        destination["artifacts_presigned_only"] = True
    settings = load_settings(["--config", str(write_config(tmp_path, config))])
    with pytest.raises(ConfigProblems) as refused:
        build_destinations(settings)
    assert [p.split(":")[0] for p in refused.value.problems] == ["destinations.bare"]
    assert "gs:// with a service-account key" in refused.value.problems[0]
