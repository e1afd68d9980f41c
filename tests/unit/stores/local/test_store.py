"""gateway/stores/local/store.py: local roots in every form MLflow accepts."""

from __future__ import annotations

import pytest

from gateway.stores import InvalidDestination
from gateway.stores.local import local_root


@pytest.mark.parametrize(
    ("uri", "windows", "expected"),
    [
        ("E:\\mlartifacts", True, "E:\\mlartifacts"),
        ("E:/mlartifacts", True, "E:\\mlartifacts"),
        ("file:///E:/mlartifacts", True, "E:\\mlartifacts"),
        ("file:/E:/ml%20artifacts", True, "E:\\ml artifacts"),
        ("file:///srv/ml%20artifacts", False, "/srv/ml artifacts"),
        ("file://localhost/srv/a", False, "/srv/a"),
        ("/srv/a/", False, "/srv/a"),
    ],
)
def test_local_roots_in_every_form(uri, windows, expected):
    assert local_root(uri, windows=windows) == expected


def test_relative_local_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_root("./mlartifacts", windows=False) == str(tmp_path / "mlartifacts")
    assert local_root("file:mlartifacts", windows=False) == str(tmp_path / "mlartifacts")


def test_windows_root_on_posix_is_refused():
    with pytest.raises(InvalidDestination, match="Windows path"):
        local_root("E:\\mlartifacts", windows=False)
