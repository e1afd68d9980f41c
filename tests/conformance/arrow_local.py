"""`arrow-local:///<dir>`, a test-only scheme: the shared pyarrow store (`ArrowStore`) over
`pyarrow.fs.LocalFileSystem`, so the conformance suite checks the pyarrow store's own logic
(staging, commit by move, listing, pruning) without an emulator in the way.

It is not a built-in scheme: local destinations are `LocalStore`'s (which fsyncs; pyarrow's
local streams cannot). `python -m tests.conformance.arrow_local <gateway arguments>` registers
it through the public `gateway.stores.register` and runs the gateway's own `main`.
"""

from __future__ import annotations

import sys
import urllib.parse
from typing import TYPE_CHECKING

from gateway.stores import DestinationOptions, StoreType, register

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.arrow.store import ArrowStore


class ArrowLocalOptions(DestinationOptions):
    """Nothing to configure but the directory."""


def _create(options: ArrowLocalOptions, settings: Settings) -> ArrowStore:
    from pyarrow import fs

    from gateway.stores.arrow.store import RangedArrowStore, Traits

    path = urllib.parse.urlparse(options.uri).path
    return RangedArrowStore(
        options.uri,
        connect=fs.LocalFileSystem,
        base=path,
        root=path,
        chunk_size=settings.chunk_size,
        traits=Traits(makes_dirs=True),
    )


STORE_TYPE = StoreType(schemes=("arrow-local",), options=ArrowLocalOptions, create=_create)

if __name__ == "__main__":
    from gateway.cli.main import main

    register(STORE_TYPE)
    sys.exit(main())
