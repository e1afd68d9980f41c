"""gateway/routing/overlap.py: destinations that coincide or nest, compared per scheme."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from gateway.routing.overlap import location, nesting_problems
from gateway.stores.local import LocalStore


def remote(uri: str, endpoint: str | None = None) -> SimpleNamespace:
    """What `location` reads of a remote store: its URI and its endpoint (`routes` shows it)."""
    return SimpleNamespace(uri=uri, endpoint=endpoint)


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        (
            remote("s3://art/company", "http://s3:9000"),
            remote("s3://art/company/restricted", "http://s3:9000/"),
        ),
        (remote("s3://art"), remote("s3://art/x")),  # AWS itself: no endpoint on either
        (remote("gs://b/p"), remote("gs://b/p/q/r")),
        (
            remote("wasbs://c@acct.blob.core.windows.net/p"),
            remote("abfss://c@acct.dfs.core.windows.net/p/q"),  # the same container, two APIs
        ),
        (remote("hdfs://nn:8020/ml"), remote("hdfs://nn:8020/ml/team")),
    ],
)
def test_a_destination_inside_another_is_refused_naming_both(outer, inner):
    (problem,) = nesting_problems({"company": outer, "restricted": inner})
    assert problem.startswith(f"destinations.restricted: {inner.uri} lies inside destination")
    assert f"'company' ({outer.uri})" in problem
    (reverse,) = nesting_problems({"restricted": inner, "company": outer})
    assert reverse == problem


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (remote("s3://art/a", "http://s3:9000"), remote("s3://art/ab", "http://s3:9000")),
        (remote("s3://art/a", "http://s3:9000"), remote("s3://art/a", "http://other:9000")),
        (remote("s3://art/a"), remote("s3://art2/a")),
        (remote("s3://art/a"), remote("gs://art/a")),
        (remote("hdfs://nn:8020/ml"), remote("hdfs://nn2:8020/ml/team")),
        (
            remote("wasbs://c@acct.blob.core.windows.net/p"),
            remote("wasbs://c@other.blob.core.windows.net/p/q"),
        ),
    ],
)
def test_siblings_and_other_places_are_fine(one, other):
    assert nesting_problems({"one": one, "other": other}) == []


def test_local_directories_compare_after_symlinks(tmp_path):
    (tmp_path / "art" / "restricted").mkdir(parents=True)
    os.symlink(tmp_path / "art" / "restricted", tmp_path / "elsewhere")
    outer = LocalStore(str(tmp_path / "art"), 65536)
    linked = LocalStore(f"file://{tmp_path / 'elsewhere'}", 65536)
    sibling = LocalStore(str(tmp_path / "art-2"), 65536)
    assert location(linked) == (
        "file",
        "",
        (*str(tmp_path).strip("/").split("/"), "art", "restricted"),
    )
    (problem,) = nesting_problems({"outer": outer, "linked": linked, "sibling": sibling})
    assert problem.startswith("destinations.linked:") and "'outer'" in problem
    same = nesting_problems({"a": outer, "b": LocalStore(f"{tmp_path}/art/", 65536)})
    assert len(same) == 1 and "is the same location as" in same[0]
