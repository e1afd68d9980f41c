"""tests/deploy/podman.py's image cache key: an image is rebuilt only when what it is built from
changes (the base, the Dockerfile, a wheel's files), not when a wheel is merely rebuilt."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.deploy.podman import content_tag


def wheelhouse(directory: Path, payload: bytes, when: tuple[int, ...]) -> Path:
    directory.mkdir(parents=True)
    with zipfile.ZipFile(directory / "pkg-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr(zipfile.ZipInfo("pkg/__init__.py", date_time=when), payload)
    return directory


def test_the_tag_follows_the_content_not_the_build_time(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM base\n")
    first = wheelhouse(tmp_path / "a", b"x = 1\n", (2026, 1, 1, 0, 0, 0))
    rebuilt = wheelhouse(tmp_path / "b", b"x = 1\n", (2026, 12, 7, 8, 0, 0))
    changed = wheelhouse(tmp_path / "c", b"x = 2\n", (2026, 1, 1, 0, 0, 0))
    assert (first / "pkg-1.0-py3-none-any.whl").read_bytes() != (
        rebuilt / "pkg-1.0-py3-none-any.whl"
    ).read_bytes()
    tag = content_tag("sha256:base", dockerfile, first)
    assert content_tag("sha256:base", dockerfile, rebuilt) == tag
    assert content_tag("sha256:base", dockerfile, changed) != tag
    assert content_tag("sha256:other", dockerfile, first) != tag
    dockerfile.write_text("FROM base\nUSER 10001\n")
    assert content_tag("sha256:base", dockerfile, first) != tag
