"""Destinations from settings: each one's options parsed by its scheme, its store created.

Every problem is collected, so `check-config` and start-up report all of them at once, one
line each, before anything listens. Nothing here opens a connection.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from gateway import redact
from gateway.config import ConfigProblems, Settings
from gateway.routing.destinations import Destinations
from gateway.routing.overlap import nesting_problems
from gateway.routing.table import IMPLICIT, RoutingTable
from gateway.stores import (
    ArtifactStore,
    DestinationOptions,
    InvalidDestination,
    budget,
    create_store,
    default_options,
    parse_options,
)
from gateway.stores.capabilities import StoragePresigning
from gateway.stores.registry import store_type_for
from gateway.stores.write_once import WriteOnce
from gateway.tenancy import SelectorMap


def validation_problems(exc: ValidationError, where: str = "") -> list[str]:
    """pydantic's errors as `loc: message` lines, under `where` (e.g. `destinations.vision`)."""
    lines = []
    for err in exc.errors(include_input=False):
        loc = ".".join(str(p) for p in (*filter(None, [where]), *err["loc"]))
        lines.append(f"{loc or 'config'}: {err['msg']}")
    return lines


def _options(raw: dict[str, Any] | None, settings: Settings) -> DestinationOptions:
    """A named destination's options, or (raw None) the implicit `--artifacts-destination`."""
    if raw is None:
        return default_options(settings.artifacts_destination)
    return parse_options(raw)


def route_patterns(settings: Settings, name: str) -> SelectorMap[tuple[str, ...]]:
    """The write-once patterns of the routes to destination `name`, each by its selectors."""
    items = [
        (selector, tuple(route.write_once))
        for route in settings.routes
        if route.destination == name
        for selector in route.selectors()
    ]
    return SelectorMap(items, ())


def _register_secrets(options: DestinationOptions) -> None:
    redact.register(*options.secrets())
    store_type = store_type_for(options.uri)
    redact.register(*(os.environ.get(name) for name in store_type.environment_secrets))


def build_destinations(settings: Settings) -> Destinations:
    """Raises ConfigProblems (every problem, one each)."""
    share = int(settings.memory_budget * settings.fair_share.user_share)
    budget.configure(settings.memory_budget, share)
    for user in settings.auth.users if settings.auth else ():
        redact.register(*user.secrets())
    problems: list[str] = []
    try:
        table: RoutingTable | None = RoutingTable.from_settings(settings)
    except ConfigProblems as exc:
        problems, table = list(exc.problems), None
    wanted: dict[str, dict[str, Any] | None] = dict(settings.destinations)
    if table is not None and IMPLICIT in table.used():
        wanted[IMPLICIT] = None
    stores: dict[str, ArtifactStore] = {}
    for name, raw in wanted.items():
        label = f"destinations.{name}"
        try:
            options = _options(raw, settings)
            _register_secrets(options)
            options = options.with_secret_files()
            _register_secrets(options)
            store = create_store(options, settings)
        except ValidationError as exc:
            problems += validation_problems(exc, label)
            continue
        except (InvalidDestination, ValueError) as exc:
            problems.append(f"{label}: {exc}" if raw is not None else str(exc))
            continue
        store.name = name
        store.write_once = WriteOnce(options.write_once, route_patterns(settings, name))
        if options.artifacts_presigned_only or settings.artifacts_presigned_only:
            if not isinstance(store, StoragePresigning):
                where = label if raw is not None else "--artifacts-destination"
                problems.append(
                    f"{where}: artifacts_presigned_only needs a destination that can presign "
                    f"storage URLs (s3://, gs:// with a service-account key, or wasbs:// with an "
                    f"account key), not {store.uri!r}"
                )
                continue
            store.presigned_only = True
        stores[name] = store
    problems += nesting_problems(stores)
    if problems or table is None:
        raise ConfigProblems(problems)
    return Destinations(stores, table)
