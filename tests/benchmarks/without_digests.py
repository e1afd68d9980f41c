"""`python -m tests.benchmarks.without_digests <gateway args>`: the gateway with a null SHA-256
in `gateway.stores.digests`, the "off" side of `tests.benchmarks.hashing_cost`. Benchmarks only:
every stored digest is zeros."""

from __future__ import annotations

import hashlib
import sys
import types

from gateway.cli.main import main
from gateway.stores import digests


class _Null:
    def update(self, data: bytes) -> None:
        pass

    def digest(self) -> bytes:
        return bytes(32)


digests.hashlib = types.SimpleNamespace(sha256=_Null, new=hashlib.new)  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(main())
