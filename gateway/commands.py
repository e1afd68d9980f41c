"""Operator subcommands: `routes`, `check-config`, `hash-password`."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Sequence

from gateway.auth.passwords import hash_secret
from gateway.destinations import Destinations
from gateway.errors import ApiError
from gateway.redact import redact
from gateway.startup import PROG, configured, report

CHECK_TIMEOUT = 30.0


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def routes(argv: Sequence[str]) -> int:
    """Prints which destination serves which experiments; '*' is everything else."""
    loaded = configured(argv)
    if loaded is None:
        return 2
    settings, destinations = loaded
    rows = [("experiments", "destination", "uri", "endpoint")]
    for experiments, name in destinations.table.rows():
        store = destinations.stores[name]
        endpoint = settings.destinations[name].endpoint_url if name in settings.destinations else ""
        rows.append((experiments, name, store.uri, endpoint or "-"))
    print(redact(_table(rows)))
    return 0


async def _reach(name: str, destinations: Destinations) -> str | None:
    store = destinations.stores[name]
    try:
        await store.start()
        await asyncio.wait_for(store.check(), CHECK_TIMEOUT)
        return None
    except ApiError as exc:
        return f"destination {name!r}: {exc.message}"
    except TimeoutError:
        return f"destination {name!r} ({store.uri}): no answer within {CHECK_TIMEOUT:.0f} s"
    except OSError as exc:
        return f"destination {name!r} ({store.uri}): {exc}"
    finally:
        await store.close()


def check_config(argv: Sequence[str]) -> int:
    """Validates the configuration and reaches every destination once: 2 invalid, 1 unreachable."""
    loaded = configured(argv)
    if loaded is None:
        return 2
    _, destinations = loaded

    async def reach_all() -> list[str | None]:
        return await asyncio.gather(*(_reach(name, destinations) for name in destinations.stores))

    results = asyncio.run(reach_all())
    for (name, store), problem in zip(destinations.stores.items(), results, strict=True):
        if problem is None:
            print(f"ok  {name}  {redact(store.uri)}")
    problems = [problem for problem in results if problem is not None]
    report(problems)
    return 1 if problems else 0


def hash_password(argv: Sequence[str]) -> int:
    """Reads the password or token from stdin (prompting twice on a terminal), prints its hash."""
    if argv:
        report(
            [f"hash-password takes no arguments; pipe the secret to stdin: {PROG} hash-password"]
        )
        return 2
    if sys.stdin.isatty():
        secret = getpass.getpass("Password or token: ")
        if getpass.getpass("Again: ") != secret:
            report(["the two entries differ"])
            return 2
    else:
        secret = sys.stdin.read().rstrip("\r\n")
    if not secret:
        report(["the secret is empty"])
        return 2
    print(hash_secret(secret))
    return 0


COMMANDS = {"routes": routes, "check-config": check_config, "hash-password": hash_password}
