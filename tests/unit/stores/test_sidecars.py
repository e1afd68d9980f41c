"""The remote sidecar's record, its validity rule, and the digests a store remembers."""

from __future__ import annotations

import hashlib

import pytest

from gateway.stores.errors import InvalidRequest
from gateway.stores.sidecars import (
    SIDECAR,
    KnownDigests,
    sidecar_digest,
    sidecar_of,
    sidecar_record,
)
from gateway.stores.staged_names import full_path, hidden

SHA = hashlib.sha256(b"x").digest()


def test_a_record_holds_only_for_the_file_it_was_written_for():
    record = sidecar_record(SHA, 10, 1_700_000_000)
    assert sidecar_digest(record, 10, 1_700_000_000) == SHA
    assert sidecar_digest(record, 11, 1_700_000_000) is None  # another size
    assert sidecar_digest(record, 10, 1_700_000_001) is None  # another mtime
    for torn in (record[:20], record[:-4], b"", b"\xff" * 80, record + b" extra"):
        assert sidecar_digest(torn, 10, 1_700_000_000) is None


def test_sidecar_names_sit_beside_their_file_and_are_reserved():
    assert sidecar_of("/base/1/r/model.pkl") == "/base/1/r/.model.pkl.gateway-sha256"
    assert SIDECAR.match(sidecar_of("/b/a.txt").rsplit("/", 1)[1])
    assert hidden(".a.txt.gateway-sha256", at_base=False)
    assert hidden(".gateway-upload." + "a" * 32, at_base=True)
    assert not hidden(".gateway-upload." + "a" * 32, at_base=False)
    assert not hidden(".a.txt", at_base=True)
    assert full_path("/b", "1/a.txt", "d") == "/b/1/a.txt" and full_path("/b", "", "d") == "/b"
    for path in ("1/.a.txt.gateway-sha256", ".x.gateway-sha256/y", ".gateway-upload.z/1"):
        with pytest.raises(InvalidRequest, match="reserved"):
            full_path("/b", path, "d")


def test_known_digests_hold_for_size_and_stamp_and_forget_oldest_first():
    known = KnownDigests(most=2)
    known.put("/b/a", 1, 5, SHA)
    assert known.get("/b/a", 1, 5) == SHA
    assert known.get("/b/a", 1, 6) is None and known.get("/b/a", 2, 5) is None
    known.put("/b/d/x", 1, 5, SHA)
    known.get("/b/a", 1, 5)  # used: the oldest is now /b/d/x
    known.put("/b/c", 1, 5, SHA)
    assert known.get("/b/d/x", 1, 5) is None and known.get("/b/a", 1, 5) == SHA
    known.put("/b/d/y", 1, 5, SHA)
    known.drop("/b/d", tree=True)
    assert known.get("/b/d/y", 1, 5) is None
    known.drop("/b/c")
    assert known.get("/b/c", 1, 5) is None
