"""Serves the app in this process, or in N forked workers sharing one listening socket.

One event loop is one core: with `--workers N` the parent binds the socket, forks N workers
that each build their own app (and S3 clients) and accept from it, forwards SIGTERM/SIGINT to
them, and exits when they have. A worker that dies stops the rest, so a supervisor (systemd,
Kubernetes, Docker) restarts one whole gateway rather than running a degraded one silently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)
AppFactory = Callable[[], web.Application]


def serve(make_app: AppFactory, host: str, port: int, workers: int) -> int:
    if workers == 1:
        _run(make_app, host=host, port=port)
        return 0
    sock = socket.create_server((host, port), backlog=1024)
    sock.set_inheritable(True)
    children: set[int] = set()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                _run(make_app, sock=sock)
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


def _run(make_app: AppFactory, **where: object) -> None:
    web.run_app(
        make_app(),
        print=None,
        access_log=logging.getLogger("gateway.access"),
        handle_signals=True,
        **where,  # type: ignore[arg-type]
    )


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
