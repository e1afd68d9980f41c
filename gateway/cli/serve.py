"""Serves the app in this process, or in N forked workers sharing one listening socket.

One event loop is one core: with `--workers N` the parent binds the socket, forks N workers
that each build their own app (and S3 clients) and accept from it, forwards SIGTERM/SIGINT to
them, and exits when they have. A worker that dies stops the rest, so a supervisor (systemd,
Kubernetes, Docker) restarts one whole gateway rather than running a degraded one silently.

Each process runs what `web.run_app` runs, except that connections get the gateway's own
protocol (`http.timeouts.HeaderTimeoutHandler`), which `run_app` offers no way to choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web

from gateway.http.timeouts import HeaderTimeoutHandler

log = logging.getLogger(__name__)
AppFactory = Callable[[], web.Application]
KEEPALIVE_TIMEOUT = 75.0  # idle keep-alive connections, as web.run_app's default


def serve(make_app: AppFactory, host: str, port: int, workers: int, header_timeout: float) -> int:
    if workers == 1:
        _run(make_app, header_timeout, host=host, port=port)
        return 0
    sock = socket.create_server((host, port), backlog=1024)
    sock.set_inheritable(True)
    children: set[int] = set()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                _run(make_app, header_timeout, sock=sock)
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.add(pid)
    sock.close()
    return _supervise(children)


def _run(make_app: AppFactory, header_timeout: float, **where: object) -> None:
    """web.run_app's loop handling: SIGTERM/SIGINT end it gracefully, leftovers are cancelled."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(make_app(), header_timeout, **where))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
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


async def _serve(app: web.Application, header_timeout: float, **where: object) -> None:
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    manager = runner.server
    assert manager is not None
    loop = asyncio.get_running_loop()
    access_log = logging.getLogger("gateway.access")

    def connection() -> HeaderTimeoutHandler:
        return HeaderTimeoutHandler(
            manager,
            loop=loop,
            header_timeout=header_timeout,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            access_log=access_log,
        )

    try:
        server = await loop.create_server(connection, backlog=128, **where)  # type: ignore[arg-type]
        try:
            await asyncio.Event().wait()  # until SIGTERM / SIGINT
        finally:
            server.close()
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
        if code and not status:
            log.error("worker %d exited with status %d; stopping the others", pid, code)
            status = 1
            forward(signal.SIGTERM, None)
    return status


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
