"""The readiness probe of one store, for `/ready`, `check-config` and start-up."""

from __future__ import annotations

import asyncio

from gateway.stores.base import ArtifactStore
from gateway.stores.errors import DestinationUnavailable, StoreError

PROBE_TIMEOUT = 10.0  # one readiness probe, for /ready, check-config and start-up


async def probe(store: ArtifactStore) -> StoreError | None:
    """The readiness probe: None when the store answers within PROBE_TIMEOUT, else why not."""
    try:
        await asyncio.wait_for(store.check(), PROBE_TIMEOUT)
    except StoreError as exc:
        return exc
    except asyncio.TimeoutError:
        return DestinationUnavailable(
            f"Destination {store.uri}: no answer within {PROBE_TIMEOUT:.0f} s",
            destination=store.name,
            code="Timeout",
        )
    return None
