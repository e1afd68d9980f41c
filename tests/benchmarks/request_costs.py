"""`python -m tests.benchmarks.request_costs`: what each per-request cut of issue 24 saves,
in µs per call, old way against new, best of 5 (docs/performance.md, "Request rate").

The old ways are written out here as they were on main before the cuts (7d8c261): the harness
run measures the cuts together, this tells them apart.
"""

from __future__ import annotations

import asyncio
import io
import logging
import timeit
import uuid

from gateway import logs, metrics, redact

ROUNDS = 5


def _pair(old, new, number: int) -> tuple[float, float]:
    """Best per-call µs of each, their rounds interleaved so that load drifts hit both."""
    best = [float("inf"), float("inf")]
    for _ in range(ROUNDS):
        for i, call in enumerate((old, new)):
            best[i] = min(best[i], timeit.timeit(call, number=number) / number * 1e6)
    return best[0], best[1]


def _logger(fmt: str) -> logging.Logger:
    logs.configure_logging("info", fmt)
    logging.getLogger().handlers[0].stream = io.StringIO()  # formatted, then dropped
    return logging.getLogger("gateway.access")


def _fields() -> dict:
    return {
        "request_id": logs.request_id_for(None),
        "remote": "127.0.0.1",
        "user": "alice",
        "source": "basic",
        "method": "GET",
        "route": "/api/2.0/mlflow-artifacts/artifacts/{path}",
        "path": "/api/2.0/mlflow-artifacts/artifacts/bench/rate/obj.bin",
        "experiment": "-",
        "destination": "default",
        "status": 200,
        "bytes_in": 0,
        "bytes_out": 4096,
        "duration": 0.0012,
    }


def access_log(fmt: str) -> tuple[float, float]:
    from gateway.http.request_log import _LINE

    redact.register("bench-secret-value-1", "bench-secret-value-2")
    logger, fields = _logger(fmt), _fields()

    def old() -> None:  # the filter formats and redacts the line, the JSON formatter each value
        logger.info(_LINE, fields, extra=fields)

    def new() -> None:
        line = dict(fields, path=redact.redact(fields["path"]))
        line[redact.PRE_REDACTED] = True
        logger.info(_LINE % line, extra=line)

    return _pair(old, new, 5_000)


def children() -> tuple[float, float]:
    requests = metrics.collectors().requests
    route = "/api/2.0/mlflow-artifacts/artifacts/{path}"
    return _pair(
        lambda: requests.labels(route, "GET", "200").inc(),
        lambda: metrics.child(requests, route, "GET", "200").inc(),
        20_000,
    )


def request_ids() -> tuple[float, float]:
    return _pair(lambda: uuid.uuid4().hex, lambda: logs.request_id_for(None), 20_000)


def timers() -> tuple[float, float]:
    from gateway.stores.s3.socket_http import _within

    async def step() -> None:
        await asyncio.sleep(0)

    async def old() -> None:
        await asyncio.wait_for(step(), 60)
        await asyncio.wait_for(step(), 60)

    async def new() -> None:
        async def both() -> None:
            await step()
            await step()

        await _within(both(), 60)

    async def both() -> tuple[float, float]:
        loop, n, best = asyncio.get_running_loop(), 5_000, [float("inf"), float("inf")]
        for _ in range(ROUNDS):
            for i, body in enumerate((old, new)):
                start = loop.time()
                for _ in range(n):
                    await body()
                best[i] = min(best[i], (loop.time() - start) / n * 1e6)
        return best[0], best[1]

    return asyncio.run(both())


def main() -> None:
    rows = {
        "access-log line (text)": access_log("text"),
        "access-log line (json)": access_log("json"),
        "Prometheus child + inc": children(),
        "request ID": request_ids(),
        "timers of one raw exchange (2 awaits)": timers(),
    }
    print("| Per call | old µs | new µs | saved µs |\n|---|---|---|---|")
    for name, (old, new) in rows.items():
        print(f"| {name} | {old:.2f} | {new:.2f} | {old - new:.2f} |")


if __name__ == "__main__":
    main()
