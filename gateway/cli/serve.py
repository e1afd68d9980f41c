"""Serves the app in this process, or in N forked workers sharing one port.

One event loop is one core: with `--workers N` the parent reserves the port, forks N workers
that each build their own app (and S3 clients) and listen on it with SO_REUSEPORT, forwards
SIGTERM/SIGINT to them, and exits when they have. The kernel then spreads connections over the
workers; with one shared listening socket, whichever worker woke first took them, and one
worker could serve every connection while the other idled. A worker that dies stops the
rest, so a supervisor (systemd, Kubernetes, Docker) restarts one whole gateway rather than
running a degraded one silently.

Each process runs what `web.run_app` runs, except that connections get the gateway's own
protocol (`http.timeouts.HeaderTimeoutHandler`), which `run_app` offers no way to choose, and
SIGTERM starts the gateway's drain (`http.drain`), which has its own time limit and cleanup.
With workers, their metrics go to a private directory the parent makes before the fork and
removes at exit, so any worker's `/metrics` covers all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable

from aiohttp import web

from gateway.config import Settings
from gateway.http.app import build_app
from gateway.http.drain import ABORT_GRACE, DRAIN
from gateway.http.request_log import AccessLogger
from gateway.http.timeouts import HeaderTimeoutHandler
from gateway.links.signing import settle_secret
from gateway.logs import configure_logging
from gateway.metrics import use_multiprocess_dir, worker_exited
from gateway.routing.destinations import Destinations

log = logging.getLogger(__name__)
announce = logging.getLogger("gateway")  # start-up lines: what is served, where
AppFactory = Callable[[], web.Application]
KEEPALIVE_TIMEOUT = 75.0  # idle keep-alive connections, as web.run_app's default


def run(settings: Settings, destinations: Destinations) -> int:
    """The server: logs what it serves, binds, then serves until drained (exit status)."""
    configure_logging(settings.log_level, settings.log_format)
    for experiments, name in destinations.table.rows():
        announce.info("experiments %s -> %s (%s)", experiments, name, destinations.stores[name].uri)
    announce.info(
        "serving artifacts on http://%s:%s with %d worker(s); client authentication %s",
        settings.host,
        settings.port,
        settings.workers,
        "on" if settings.auth else "off",
    )
    if settings.tracking_uri:
        announce.info("passing tracking requests through to %s", settings.tracking_uri)
    try:
        bound = bind(settings.host, settings.port, settings.workers)
    except OSError as exc:
        reason = exc.strerror or exc
        announce.error("cannot listen on %s:%s: %s", settings.host, settings.port, reason)
        return 2
    settle_secret(settings.multipart)
    return serve(
        lambda: build_app(settings, destinations),
        bound,
        settings.workers,
        settings.header_timeout,
        settings.shutdown_timeout,
    )


def bind(host: str, port: int, workers: int) -> socket.socket:
    """Before anything starts: a taken port is a one-line start-up error, not a traceback.

    One worker gets its listening socket. For several, the port is bound and never listened
    on: another program cannot take it, and no connection queues where no worker would
    accept it; each worker then listens on it with SO_REUSEPORT. Port 0 picks one for all.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    if workers == 1:
        return socket.create_server((host, port), family=family, backlog=1024)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    make_app: AppFactory,
    bound: socket.socket,
    workers: int,
    header_timeout: float,
    shutdown_timeout: float = 30.0,
) -> int:
    """Runs until drained; `bound` is what `bind` returned for the same `workers`."""
    timeouts = (header_timeout, shutdown_timeout)
    if workers == 1:
        _run(make_app, timeouts, sock=bound)
        return 0
    address = bound.getsockname()[:2]
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    use_multiprocess_dir(metrics_dir)  # before the fork: every worker counts into it
    children: set[int] = set()
    try:
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:  # worker
                code = 0
                try:
                    bound.close()
                    sock = socket.create_server(
                        address, family=bound.family, backlog=1024, reuse_port=True
                    )
                    _run(make_app, timeouts, sock=sock)
                except BaseException:
                    log.exception("worker %d failed", os.getpid())
                    code = 1
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            children.add(pid)
        return _supervise(children)
    finally:
        bound.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(make_app: AppFactory, timeouts: tuple[float, float], **where: object) -> None:
    """One event loop until SIGTERM/SIGINT and the drain; leftovers are cancelled."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(make_app(), *timeouts, **where))
    try:
        loop.run_until_complete(main)
    except KeyboardInterrupt:
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(
    app: web.Application, header_timeout: float, shutdown_timeout: float, **where: object
) -> None:
    """Serves until SIGTERM/SIGINT, then drains: `/ready` 503 and the listener closed at once,
    in-flight requests get `shutdown_timeout`, the rest are cancelled (`http.drain`)."""
    # By the time the runner's own shutdown runs, nothing should be in flight any more.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=ABORT_GRACE)
    await runner.setup()
    manager = runner.server
    assert manager is not None
    loop = asyncio.get_running_loop()
    access_log = logging.getLogger("gateway.access")
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def connection() -> HeaderTimeoutHandler:
        return HeaderTimeoutHandler(
            manager,
            loop=loop,
            header_timeout=header_timeout,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            access_log_class=AccessLogger,
            access_log=access_log,
        )

    try:
        server = await loop.create_server(connection, backlog=128, **where)  # type: ignore[arg-type]
        try:
            await stop.wait()
            app[DRAIN].begin()
            log.info("SIGTERM: draining, up to %s s for requests in flight", shutdown_timeout)
        finally:
            server.close()  # new connections are refused from here on
        aborted = await app[DRAIN].wait(shutdown_timeout)
        log.info("drained (%d request(s) aborted)", aborted)
    finally:
        await runner.cleanup()


def _supervise(children: set[int]) -> int:
    """Waits for every worker; the first to exit on its own takes the others down with it."""

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    while children:
        pid, code = os.wait()
        children.discard(pid)
        worker_exited(pid)
        if code and not status:
            log.error("worker %d exited with status %d; stopping the others", pid, code)
            status = 1
            forward(signal.SIGTERM, None)
    return status


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
