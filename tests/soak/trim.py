"""`python -m tests.soak.trim`: is the gateway's idle RSS memory the allocator keeps, or live?

Loads a soak gateway (tests/soak/servers.py) with the soak workload for `--seconds`, lets it
idle, then has gdb call glibc's `malloc_trim(0)` inside it and prints RSS before and after:
what the call gives back was free memory glibc had kept mapped, not a leak. Needs gdb.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.soak.servers import running
from tests.soak.workload import MIB, run


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.trim")
    parser.add_argument("--seconds", type=float, default=90.0, help="load duration")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trim-") as tmp, running(Path(tmp), 5 * MIB) as s:
        pid = s.gateway.pid
        print(f"at rest: {rss_mib(pid):.1f} MiB", flush=True)
        done: list = []
        asyncio.run(run(s.url, 8, args.seconds, done))
        time.sleep(20)
        print(f"idle 20 s after {len(done)} operations: {rss_mib(pid):.1f} MiB", flush=True)
        call = ["gdb", "-p", str(pid), "-batch", "-ex", "call (int)malloc_trim(0)"]
        subprocess.run(call, capture_output=True, text=True, timeout=120, check=True)
        time.sleep(2)
        print(f"after malloc_trim(0): {rss_mib(pid):.1f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
