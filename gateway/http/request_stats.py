"""What a request acted on and moved: its destination, experiment and artifact bytes.

Handlers and `access.store_for` note these here; the `observe` middleware and the access log
read them. The byte counts come from what aiohttp already counts (`StreamReader.total_bytes`)
or from the chunks being written, so counting copies nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from gateway.metrics import child, collectors


@dataclass
class Observed:
    request_id: str
    started: float
    route: str
    destination: str = ""
    experiment: str = ""


OBSERVED = web.RequestKey("observed", Observed)


def note_target(request: web.Request, destination: str, experiment: str) -> None:
    """Which destination and experiment a request acts on, for its metrics and log line."""
    if (observed := request.get(OBSERVED)) is not None:
        observed.destination, observed.experiment = destination, experiment


@contextlib.contextmanager
def uploading(request: web.Request, destination: str) -> Iterator[None]:
    """Around a store write from the request body: in flight, then the bytes received."""
    metrics = collectors()
    in_flight = child(metrics.in_flight, "upload")
    in_flight.inc()
    try:
        yield
    finally:
        in_flight.dec()
        child(metrics.uploaded, destination).inc(request.content.total_bytes)


class Sent:
    """Bytes of a download written so far; counted once the download ends, however it ends."""

    def __init__(self) -> None:
        self.bytes = 0
        self.spliced = 0  # of those, the bytes that went socket to socket in the kernel


@contextlib.contextmanager
def downloading(destination: str) -> Iterator[Sent]:
    metrics = collectors()
    in_flight = child(metrics.in_flight, "download")
    in_flight.inc()
    sent = Sent()
    try:
        yield sent
    finally:
        in_flight.dec()
        child(metrics.downloaded, destination).inc(sent.bytes)
        child(metrics.spliced, destination).inc(sent.spliced)
