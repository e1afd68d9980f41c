"""Block ids the Azure store chooses, and reading them back from a block list."""

from __future__ import annotations

import uuid

from gateway.stores.azure.blocks import _decoded
from gateway.stores.azure.store import block_id


def test_block_ids_have_one_length_and_read_back():
    upload = uuid.uuid4().hex
    ids = [block_id(upload, n) for n in (0, 1, 42, 10_000, 99_999)]
    assert len({len(i) for i in ids}) == 1  # Azure requires one length per blob
    assert [_decoded(i) for i in ids] == [(upload, n) for n in (0, 1, 42, 10_000, 99_999)]
    assert _decoded("someone-else's") == ("", -1)
