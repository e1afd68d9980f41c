"""What one uncached Bearer check costs with 1 and with 16 token users, in both hash formats.

`python -m tests.benchmarks.bearer_cost [--reps N]`: the authenticator in-process (cache off,
real scrypt at the gateway's parameters), one check at a time; prints median and min-max in ms.
A timed test would be flaky on a shared machine, so the figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, UserConfig
from gateway.auth.passwords import hash_secret, hash_token

USER_COUNTS = (1, 16)
FORMATS = {"scrypt-t (lookup id)": hash_token, "scrypt (older, no lookup id)": hash_secret}


def _token(number: int) -> str:
    return f"benchmark-token-{number:02d}-5f0d8c7b6a4e3d2c1b0a9f8e"


def _authenticator(count: int, make) -> Authenticator:
    users = [UserConfig(name=f"user{i}", token_hash=make(_token(i))) for i in range(count)]
    return Authenticator(AuthConfig(users=users, cache_seconds=0))


async def _timings(authenticator: Authenticator, header: str, reps: int) -> list[float]:
    timings = []
    for _ in range(reps):
        start = time.perf_counter()
        await authenticator.identify(header)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _cell(timings: list[float]) -> str:
    return f"{statistics.median(timings):7.1f} ({min(timings):.1f}-{max(timings):.1f})"


async def main(reps: int) -> None:
    print(f"one uncached Bearer check, ms: median (min-max) of {reps}")
    print(f"{'hash format':30} {'token users':>11}  {'bogus token':>20}  {'valid token':>20}")
    for name, make in FORMATS.items():
        for count in USER_COUNTS:
            authenticator = _authenticator(count, make)
            bogus = await _timings(authenticator, "Bearer not-anyones-token", reps)
            valid = await _timings(authenticator, f"Bearer {_token(count - 1)}", reps)
            print(f"{name:30} {count:>11}  {_cell(bogus):>20}  {_cell(valid):>20}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    asyncio.run(main(parser.parse_args().reps))
