"""Which artifact locations the gateway serves itself, and where in its destination they lie."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidParameter
from gateway.upstream.proxied_roots import destination_path, join

OWN = {"gw.example:5500", "127.0.0.1:5500"}


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("mlflow-artifacts:/1/abc/artifacts", "1/abc/artifacts"),
        ("mlflow-artifacts:///1/abc/artifacts", "1/abc/artifacts"),
        ("mlflow-artifacts://gw.example:5500/1/abc/artifacts", "1/abc/artifacts"),
        ("MLFLOW-ARTIFACTS://GW.EXAMPLE:5500/1/m/artifacts", "1/m/artifacts"),
        ("mlflow-artifacts:/", ""),
        (
            "http://gw.example:5500/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts",
            "1/abc/artifacts",
        ),
        (
            "https://127.0.0.1:5500/api/2.0/mlflow-artifacts/artifacts/e%20x/r/artifacts",
            "e x/r/artifacts",
        ),
        ("http://gw.example:5500/mlflow/api/2.0/mlflow-artifacts/artifacts/1/r", "1/r"),
        ("http://gw.example:5500/api/2.0/mlflow-artifacts/artifacts", ""),
        # Not the gateway's: another host, another route, another scheme.
        ("mlflow-artifacts://other:5000/1/abc/artifacts", None),
        ("http://other:5500/api/2.0/mlflow-artifacts/artifacts/1/abc", None),
        ("http://gw.example:5500/files/1/abc", None),
        ("http://gw.example:5500/api/2.0/mlflow-artifacts/artifactsX/1", None),
        ("s3://bucket/1/abc/artifacts", None),
        ("file:///srv/mlruns/1/abc/artifacts", None),
        ("/srv/mlruns/1/abc/artifacts", None),
    ],
)
def test_destination_path(location, expected):
    assert destination_path(location, OWN) == expected


@pytest.mark.parametrize(
    "location",
    [
        "mlflow-artifacts:/1/../../etc",
        "http://gw.example:5500/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/x",
        "mlflow-artifacts:/1/a\\b",
    ],
)
def test_unsafe_locations_are_refused(location):
    with pytest.raises(InvalidParameter):
        destination_path(location, OWN)


def test_join_keeps_empty_parts_out():
    assert join("1/r/artifacts", "") == "1/r/artifacts"
    assert join("", "a/b") == "a/b"
    assert join("1/r/artifacts", "notes/readme.txt") == "1/r/artifacts/notes/readme.txt"
