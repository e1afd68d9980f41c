"""Loading configuration for any command: every problem is one line on stderr, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import yaml
from pydantic import ValidationError

from gateway.app import build_destinations
from gateway.config import ConfigFileError, Settings, load_settings
from gateway.destinations import Destinations
from gateway.redact import redact
from gateway.stores import InvalidDestination

PROG = "artifact-gateway"


def problems_of(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        ]
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return [f"config file is not valid YAML: {getattr(exc, 'problem', exc)}{where}"]
    return list(getattr(exc, "problems", None) or [str(exc)])


def report(problems: Sequence[str]) -> None:
    for problem in problems:
        print(f"{PROG}: error: {redact(problem)}", file=sys.stderr)


def configured(argv: Sequence[str]) -> tuple[Settings, Destinations] | None:
    """Settings and destinations, or None after reporting why there are none."""
    try:
        settings = load_settings(argv)
        return settings, build_destinations(settings)
    except (ValidationError, ConfigFileError, InvalidDestination, yaml.YAMLError) as exc:
        report(problems_of(exc))
        return None
