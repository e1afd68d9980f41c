"""gateway/stores/registry.py: which store a destination URI's scheme picks (registration itself
is tested in test_registry.py)."""

from __future__ import annotations

import pytest

from gateway.config import load_settings
from gateway.stores import create_store, default_options, scheme_of
from gateway.stores.local import LocalStore
from gateway.stores.s3 import S3Store, parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [("E:\\x", ""), ("c:/x", ""), ("./x", ""), ("file:///x", "file"), ("S3://b/p", "s3")],
)
def test_scheme_of(uri, scheme):
    assert scheme_of(uri) == scheme


def test_stores_are_chosen_by_scheme(tmp_path):
    settings = load_settings(["--artifacts-destination", str(tmp_path / "a")])
    store = create_store(default_options(settings.artifacts_destination), settings)
    assert isinstance(store, LocalStore)
    settings = load_settings(["--artifacts-destination", "s3://bucket/deep/prefix/"])
    store = create_store(default_options(settings.artifacts_destination), settings)
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("bucket", "deep/prefix")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
