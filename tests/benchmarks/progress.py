"""Progress lines on stderr, stamped with the elapsed time, so a long run shows where it is."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def say(message: str) -> None:
    elapsed = time.monotonic() - _START
    print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)
