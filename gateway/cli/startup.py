"""Loading configuration for any command: every problem is one line on stderr, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import yaml
from pydantic import ValidationError

from gateway.config import ConfigFileError, ConfigProblems, Settings, load_settings
from gateway.redact import redact
from gateway.routing.build import build_destinations, validation_problems
from gateway.routing.destinations import Destinations
from gateway.stores import InvalidDestination

PROG = "artifact-gateway"


def problems_of(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return validation_problems(exc)
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
    except (
        ValidationError,
        ConfigFileError,
        ConfigProblems,
        InvalidDestination,
        yaml.YAMLError,
    ) as exc:
        report(problems_of(exc))
        return None
