"""`artifact-gateway`: configuration problems are reported one line each, never as tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from gateway.cli.commands import COMMANDS
from gateway.cli.serve import bind, serve
from gateway.cli.startup import configured
from gateway.http.app import build_app
from gateway.links.signing import settle_secret
from gateway.logs import configure_logging

log = logging.getLogger("gateway")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    loaded = configured(args)
    if loaded is None:
        return 2
    settings, destinations = loaded
    configure_logging(settings.log_level, settings.log_format)
    for experiments, name in destinations.table.rows():
        log.info("experiments %s -> %s (%s)", experiments, name, destinations.stores[name].uri)
    log.info(
        "serving artifacts on http://%s:%s with %d worker(s); client authentication %s",
        settings.host,
        settings.port,
        settings.workers,
        "on" if settings.auth else "off",
    )
    if settings.tracking_uri:
        log.info("passing tracking requests through to %s", settings.tracking_uri)
    try:
        bound = bind(settings.host, settings.port, settings.workers)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc.strerror or exc)
        return 2
    settle_secret(settings.multipart)
    return serve(
        lambda: build_app(settings, destinations),
        bound,
        settings.workers,
        settings.header_timeout,
        settings.shutdown_timeout,
    )


if __name__ == "__main__":
    sys.exit(main())
