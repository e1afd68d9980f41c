"""Request IDs: the client's when plain, else a new one, unique within and across workers."""

from __future__ import annotations

import os
import re

from gateway.logs import request_id_for


def test_new_ids_look_as_uuid4_hex_did_and_never_repeat() -> None:
    ids = [request_id_for(None) for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    assert request_id_for("client-id.1") == "client-id.1"
    assert request_id_for("bad id\n") not in ("bad id\n", ids[-1])


def test_a_forked_worker_numbers_its_ids_apart_from_its_parent() -> None:
    """`--workers` forks: a child that kept the parent's prefix would repeat its IDs."""
    before = request_id_for(None)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ID, then gone without running pytest's teardown
        os.write(write, request_id_for(None).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = request_id_for(None)
    assert child[:16] != parent[:16] == before[:16]
