"""Operator subcommands: `routes`, `check-config`, `hash-password`, `verify`."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Sequence

from gateway.auth.passwords import hash_secret, hash_token
from gateway.cli.startup import PROG, configured, report
from gateway.config import Settings
from gateway.redact import redact
from gateway.routing.destinations import Destinations
from gateway.stores import probe
from gateway.stores.errors import StoreError


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def routes(argv: Sequence[str]) -> int:
    """Prints which destination serves what, most specific route first (the precedence of
    docs/tenancy.md); '*' is everything no route names."""
    loaded = configured(argv)
    if loaded is None:
        return 2
    _, destinations = loaded
    rows = [("route", "destination", "uri", "endpoint")]
    for selector, name in destinations.table.rows():
        store = destinations.stores[name]
        rows.append((selector, name, store.uri, store.endpoint or "-"))
    print(redact(_table(rows)))
    return 0


async def _reach(name: str, destinations: Destinations) -> str | None:
    store = destinations.stores[name]
    try:
        await store.start()
        problem = await probe(store)
    except StoreError as exc:
        problem = exc
    finally:
        await store.close()
    return None if problem is None else f"destination {name!r}: {problem.message}"


def check_config(argv: Sequence[str]) -> int:
    """Validates the configuration and reaches every destination once: 2 invalid, 1 unreachable."""
    loaded = configured(argv)
    if loaded is None:
        return 2
    settings, destinations = loaded

    async def reach_all() -> list[str | None]:
        return await asyncio.gather(*(_reach(name, destinations) for name in destinations.stores))

    results = asyncio.run(reach_all())
    for (name, store), problem in zip(destinations.stores.items(), results, strict=True):
        if problem is None:
            print(f"ok  {name}  {redact(store.uri)}")
    problems = [problem for problem in results if problem is not None]
    problems += _reach_identity_sources(settings)
    report(problems)
    return 1 if problems else 0


def _reach_identity_sources(settings: Settings) -> list[str]:
    """The auth app and the OIDC issuer, once each: their problems (ok lines are printed)."""
    if settings.auth is None:
        return []
    from gateway.auth.reach import reach  # PyJWT and cryptography: only when asked

    found = asyncio.run(reach(settings.auth, settings.tracking_uri))
    for line in (line for ok, line in found if ok):
        print(f"ok  {redact(line)}")
    return [line for ok, line in found if not ok]


# Below this a token's lookup id (see passwords.lookup_id) makes offline guessing cheap.
_TOKEN_ADVICE = 32


def hash_password(argv: Sequence[str]) -> int:
    """Reads the password or token from stdin (prompting twice on a terminal), prints its hash.

    `--token` prints a token hash with a lookup id, for `token_hash`.
    """
    token = list(argv) == ["--token"]
    if argv and not token:
        report(
            [
                "hash-password takes only --token; pipe the secret to stdin: "
                f"{PROG} hash-password [--token]"
            ]
        )
        return 2
    if sys.stdin.isatty():
        secret = getpass.getpass("Token: " if token else "Password: ")
        if getpass.getpass("Again: ") != secret:
            report(["the two entries differ"])
            return 2
    else:
        secret = sys.stdin.read().rstrip("\r\n")
    if not secret:
        report(["the secret is empty"])
        return 2
    if token and len(secret) < _TOKEN_ADVICE:
        print(
            f"{PROG}: warning: tokens shorter than {_TOKEN_ADVICE} characters can be guessed "
            "from their hash; use a random one, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
            file=sys.stderr,
        )
    print(hash_token(secret) if token else hash_secret(secret))
    return 0


def verify(argv: Sequence[str]) -> int:
    """`verify`: in its own module (gateway/cli/verify.py)."""
    from gateway.cli.verify import verify as run

    return run(argv)


COMMANDS = {
    "routes": routes,
    "check-config": check_config,
    "hash-password": hash_password,
    "verify": verify,
}
