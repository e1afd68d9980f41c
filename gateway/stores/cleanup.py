"""Aborts multipart uploads nobody finished: once at start-up, then every `cleanup_interval`.

A client that dies between `mpu/create` and `mpu/complete` leaves parts that S3 keeps (and
bills) forever; a crashed streaming upload does the same, and a killed gateway leaves temp
files and half-made directories (local) or staging objects (pyarrow): `StaleTemporaries`.
Any replica may run the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from gateway.config import Multipart
from gateway.metrics import collectors
from gateway.stores.base import ArtifactStore
from gateway.stores.capabilities import MultipartUploads, StaleTemporaries
from gateway.stores.errors import NotFound, StoreError

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


class StoreSet(Protocol):
    """Every configured store (`routing.destinations.Destinations` is one), read anew each pass;
    named by this protocol so the stores layer imports nothing above it."""

    def all(self) -> Sequence[ArtifactStore]: ...


async def cleanup_pass(destinations: StoreSet, max_age: int) -> int:
    """Aborts every upload older than `max_age` seconds and removes crash leftovers as old;
    returns how many uploads it aborted."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=max_age)
    aborted = 0
    for store in destinations.all():
        if isinstance(store, StaleTemporaries):
            aborted += await _remove_stale(store, cutoff)
        if isinstance(store, MultipartUploads):
            aborted += await _abort_old(store, cutoff)
    return aborted


async def _remove_stale(store: StaleTemporaries, cutoff: datetime) -> int:
    try:
        removed = await store.remove_stale(cutoff)
    except StoreError as exc:
        log.warning(
            "cleanup: cannot remove stale temporaries on %s: %s [%s]", store.name, exc, exc.code
        )
        return 0
    if removed:
        log.info("cleanup: removed %d stale temporaries on %s", removed, store.name)
    return removed


async def _abort_old(store: MultipartUploads, cutoff: datetime) -> int:
    try:
        pending = await store.list_uploads(cutoff)
    except StoreError as exc:
        log.warning("cleanup: cannot list uploads on %s: %s [%s]", store.name, exc, exc.code)
        return 0
    aborted = 0
    for upload in pending:
        try:
            await store.abort_upload(upload.path, upload.upload_id)
        except NotFound:
            continue  # completed or aborted meanwhile
        except StoreError as exc:
            log.warning("cleanup: cannot abort an upload on %s: %s [%s]", store.name, exc, exc.code)
            continue
        aborted += 1
        collectors().multipart.labels("cleaned").inc()
        log.info(
            "cleanup: aborted the upload to %s on %s started %s",
            upload.path,
            store.name,
            upload.started.isoformat(timespec="seconds"),
        )
    return aborted


async def _every(destinations: StoreSet, config: Multipart, stop: asyncio.Event) -> None:
    # Python 3.11's `wait_for` returns the result instead of raising when the cancel arrives
    # as the pass ends, so a cancel alone can leave this task asleep for `cleanup_interval`
    # and the shutdown waiting on it; the event ends the loop either way.
    while not stop.is_set():
        try:
            aborted = await asyncio.wait_for(
                cleanup_pass(destinations, config.cleanup_age),
                timeout=max(60, config.cleanup_interval),
            )
            log.info("cleanup pass done: %d abandoned upload(s) aborted", aborted)
        except Exception as exc:  # the next pass tries again; the task must survive
            log.warning("cleanup pass failed: %r", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), config.cleanup_interval)


def cleanup_context(
    destinations: StoreSet, config: Multipart
) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx`, after the stores have started; stopped before they close."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(_every(destinations, config, stop))
        yield
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run
