"""The gateway's Prometheus metrics: the names in deploy/grafana/metrics.txt, and the scrape.

Shared ground, so the HTTP layer, the upstream client and the cleanup pass count into the same
objects. Label values are bounded: route templates (never raw paths), methods, statuses,
configured destination names, backend error codes and fixed words; no secret, user or artifact
path is ever a label.

With `--workers N` the parent calls `use_multiprocess_dir` before it forks, so every worker
writes its samples to files there and any worker's scrape merges all of them
(prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Requests: from a cached 4 KiB GET (ms) to a 4 GiB upload (minutes).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
_UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

prometheus_client.disable_created_metrics()  # no `_created` series: not in the contract


@dataclasses.dataclass(frozen=True)
class Collectors:
    requests: Counter
    duration: Histogram
    uploaded: Counter
    downloaded: Counter
    spliced: Counter
    in_flight: Gauge
    backend_errors: Counter
    upstream_duration: Histogram
    upstream_errors: Counter
    multipart: Counter
    auth: Counter


class _Uncounted:
    """Stands in for every metric while metrics are off: counting then costs a call."""

    def labels(self, *values: str) -> _Uncounted:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    dec = observe = inc


_UNCOUNTED = Collectors(*[_Uncounted()] * len(dataclasses.fields(Collectors)))  # type: ignore[arg-type]
_enabled = True


_MAX_CHILDREN = 4096  # label values are bounded (above); a bound on the cache all the same
_children: dict[tuple, Any] = {}


def child(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once per metric and label values: prometheus_client's
    `labels` validates the values and takes the metric's lock on every call
    (`MetricWrapperBase.labels`), and a request counts into about six children."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        if len(_children) >= _MAX_CHILDREN:
            _children.clear()
        found = _children[key] = metric.labels(*values)
    return found


def set_enabled(enabled: bool) -> None:
    """`metrics.enabled: false` turns counting off too, not only the route."""
    global _enabled
    _enabled = enabled


def collectors() -> Collectors:
    return _collectors() if _enabled else _UNCOUNTED


@functools.cache
def _collectors() -> Collectors:
    """Created on first use, so a multiprocess directory set before the fork applies."""
    return Collectors(
        requests=Counter(
            "gateway_http_requests", "HTTP requests answered", ["route", "method", "status"]
        ),
        duration=Histogram(
            "gateway_http_request_duration_seconds",
            "Time from the request's head to the end of its answer",
            ["route", "method"],
            buckets=_REQUEST_BUCKETS,
        ),
        uploaded=Counter("gateway_uploaded_bytes", "Artifact body bytes received", ["destination"]),
        downloaded=Counter("gateway_downloaded_bytes", "Artifact body bytes sent", ["destination"]),
        spliced=Counter(
            "gateway_spliced_bytes",
            "Of the bytes sent, those spliced from the backend's socket in the kernel",
            ["destination"],
        ),
        in_flight=Gauge(
            "gateway_transfers_in_flight",
            "Artifact uploads and downloads under way",
            ["direction"],
            multiprocess_mode="livesum",
        ),
        backend_errors=Counter(
            "gateway_backend_errors",
            "Store errors answered, by destination and the backend's error code",
            ["destination", "code"],
        ),
        upstream_duration=Histogram(
            "gateway_upstream_request_duration_seconds",
            "Time until the tracking server's status and headers arrived",
            buckets=_UPSTREAM_BUCKETS,
        ),
        upstream_errors=Counter(
            "gateway_upstream_errors", "Tracking-server requests that failed", ["kind"]
        ),
        multipart=Counter("gateway_multipart_uploads", "Multipart upload events", ["event"]),
        auth=Counter("gateway_auth", "Access decisions on credentials", ["outcome"]),
    )


def use_multiprocess_dir(path: str) -> None:
    """Before forking workers: samples go to files under `path` (empty, private to us)."""
    os.environ[MULTIPROC_ENV] = path
    # prometheus-client chose its value class at import; choose again now the variable is set.
    values.ValueClass = values.get_value_class()


def worker_exited(pid: int) -> None:
    """A worker's live gauges (transfers in flight) stop counting once it is gone."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def scrape() -> tuple[bytes, str]:
    """The exposition text: every worker's samples in multiprocess mode, plus `process_*`
    (in multiprocess mode those of the worker answering)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        ProcessCollector(registry=registry)
    else:
        _collectors()  # every family is listed from the first scrape on
        registry = prometheus_client.REGISTRY
    return generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
