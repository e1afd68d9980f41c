"""Property tests (hypothesis) for the path rules and for Range / If-Range parsing.

Paths: whatever the client sends, the normaliser either refuses it with 400
(`InvalidParameter`) or returns a canonical form that stays inside the destination, and two
different canonical forms never share an S3 key or a local file. Headers: aiohttp's parser and
the gateway's reading of it never raise, and a range that is served lies inside the file.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import S3Transfer
from gateway.errors import InvalidParameter
from gateway.http.files import _if_range_holds, _requested_range
from gateway.paths import normalize
from gateway.stores.base import FileStat
from gateway.stores.errors import InvalidRequest, RangeNotSatisfiable
from gateway.stores.local import LocalStore
from gateway.stores.s3.options import S3Options
from gateway.stores.s3.store import S3Store

# Segments built from the characters that matter to traversal, plus ordinary text.
_TRICKY = st.sampled_from(
    [".", "..", "...", "/", "\\", "%2e", "%2E", "%2f", "%5c", "%00", "%252e", ":", "C:", "~", " "]
)
_SEGMENT = st.one_of(_TRICKY, st.text(min_size=0, max_size=8))
RAW_PATHS = st.one_of(
    st.lists(_SEGMENT, max_size=8).map("/".join),
    st.lists(_SEGMENT, max_size=8).map("".join),
    st.text(max_size=40),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _normal_or_none(raw: str) -> str | None:
    try:
        return normalize(raw)
    except InvalidParameter:
        return None


@SETTINGS
@given(RAW_PATHS)
def test_the_normaliser_refuses_or_returns_a_canonical_relative_path(raw: str) -> None:
    path = _normal_or_none(raw)  # anything but InvalidParameter fails the test
    if path is None:
        return
    segments = path.split("/") if path else []
    assert all(s and s not in (".", "..") for s in segments), path
    assert not path.startswith("/") and "\\" not in path and "\x00" not in path
    assert normalize(path) == path  # canonical: normalising again changes nothing


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    root = tmp_path_factory.mktemp("prop-root")
    (root / "7").mkdir()
    os.symlink("/etc", root / "7" / "out")  # a way out that local_path must refuse
    return LocalStore(str(root), 1024)


@SETTINGS
@given(RAW_PATHS)
def test_no_generated_path_escapes_a_local_destination(local_store: LocalStore, raw: str) -> None:
    path = _normal_or_none(raw)
    if path is None:
        return
    try:
        full = local_store.local_path(path)
    except InvalidRequest:
        return  # staging, temp names, symlinks out: refused with 400
    root = Path(local_store.root)
    real = Path(os.path.realpath(full))
    assert real == root or root in real.parents, (raw, full)


def _s3_store() -> S3Store:
    return S3Store(S3Options(uri="s3://bucket/pre"), S3Transfer(), 1024)


@SETTINGS
@given(RAW_PATHS, RAW_PATHS)
def test_two_different_paths_never_share_a_key(local_store: LocalStore, a: str, b: str) -> None:
    first, second = _normal_or_none(a), _normal_or_none(b)
    if first is None or second is None or first == second:
        return
    s3 = _s3_store()
    assert s3._key(first) != s3._key(second)
    assert s3._key(first).startswith("pre/") or s3._key(first) == "pre"
    assert os.path.join(local_store.root, first) != os.path.join(local_store.root, second)


HEADER_TEXT = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.builds(
        "bytes={}-{}".format,
        st.one_of(st.just(""), st.integers(0, 10**12).map(str)),
        st.one_of(st.just(""), st.integers(0, 10**12).map(str)),
    ),
    st.integers(-(10**6), 10**6).map(lambda n: f"bytes={n}"),
)


def _request(**headers: str):
    return make_mocked_request("GET", "/x", headers=headers)


@SETTINGS
@given(HEADER_TEXT, st.integers(0, 10**9))
def test_a_served_range_lies_inside_the_file(header: str, size: int) -> None:
    byte_range = _requested_range(_request(Range=header))
    if byte_range is None:
        return  # malformed or several ranges: the whole file
    try:
        start, stop = byte_range.resolve(size)
    except RangeNotSatisfiable:
        return  # 416
    assert 0 <= start < stop <= size, (header, size)


@SETTINGS
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**9))
def test_a_well_formed_range_is_served_as_asked(first: int, last: int, size: int) -> None:
    first, last = min(first, last), max(first, last)
    byte_range = _requested_range(_request(Range=f"bytes={first}-{last}"))
    assert byte_range is not None
    if first >= size:
        with pytest.raises(RangeNotSatisfiable):
            byte_range.resolve(size)
    else:
        assert byte_range.resolve(size) == (first, min(last + 1, size))


_MODIFIED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
_STAT = FileStat(size=10, etag='"abc-a"', last_modified=_MODIFIED)


@SETTINGS
@given(HEADER_TEXT)
def test_if_range_never_raises_and_only_this_etag_holds(header: str) -> None:
    holds = _if_range_holds(_request(**{"If-Range": header}), _STAT)
    if header.startswith(('"', "W/")):
        assert holds == (header == _STAT.etag)


@SETTINGS
@given(st.integers(-(10**6), 10**6))
def test_if_range_with_a_date_holds_while_the_file_is_not_newer(offset: int) -> None:
    moment = _MODIFIED + timedelta(seconds=offset)
    header = moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert _if_range_holds(_request(**{"If-Range": header}), _STAT) == (offset >= 0)
