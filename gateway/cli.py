"""`artifact-gateway`: configuration problems are reported one line each, never as tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import yaml
from aiohttp import web
from pydantic import ValidationError

from gateway.app import build_app, build_destinations
from gateway.config import ConfigFileError, Settings, load_settings
from gateway.redact import RedactingFilter
from gateway.stores import InvalidDestination

PROG = "artifact-gateway"
log = logging.getLogger("gateway")


def _problems(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        ]
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return [f"config file is not valid YAML: {getattr(exc, 'problem', exc)}{where}"]
    return [str(exc)]


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(max(root.level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings: Settings = load_settings(args)
        destinations = build_destinations(settings)
    except (ValidationError, ConfigFileError, InvalidDestination, yaml.YAMLError) as exc:
        for problem in _problems(exc):
            print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    app = build_app(settings, destinations)
    log.info(
        "serving artifacts from %s on http://%s:%s",
        destinations.default.uri,
        settings.host,
        settings.port,
    )
    if settings.tracking_uri:
        log.info("passing tracking requests through to %s", settings.tracking_uri)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=logging.getLogger("gateway.access"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
