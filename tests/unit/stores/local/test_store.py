"""gateway/stores/local/store.py: local roots in every form MLflow accepts."""

from __future__ import annotations

import os

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


def test_a_parent_made_by_a_concurrent_upload_is_not_taken_for_a_file(tmp_path, monkeypatch):
    """Two uploads into one new directory: the second may find it made between its `isdir`
    and `lexists` looks (seen as a 400 'a parent is a file' under parallel uploads)."""
    from gateway.stores.local import files as local_files

    store = local_files.LocalFiles(str(tmp_path), 65536)
    target = str(tmp_path / "7" / "run")
    real_isdir, raced = os.path.isdir, []

    def racing(path: str) -> bool:
        if path == target and not raced:  # the other upload makes it right after this look
            raced.append(path)
            os.makedirs(path)
            return False
        return real_isdir(path)

    monkeypatch.setattr(local_files.os.path, "isdir", racing)
    assert store._make_dirs(target, "7/run/x.txt") == []  # made by the other: not ours to remove
    assert raced and real_isdir(target)
