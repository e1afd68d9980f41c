"""The gateway's command line as an operator runs it, and the config files they write.

`run_cli` calls `gateway.cli.main.main` in this process (a fresh interpreter per case costs more
than the case); tests/test_entry_point.py keeps `python -m gateway` and the `artifact-gateway`
script honest with real processes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import yaml

from gateway.cli import main as cli_main
from tests.helpers.stack import clean_env


def write_config(tmp_path: Path, config: dict | str) -> Path:
    """`config` (a mapping, or YAML text as written) in tmp_path/gateway.yaml."""
    path = tmp_path / "gateway.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


class _Stdin(io.StringIO):
    """Piped input: `hash-password` reads it instead of prompting on a terminal."""

    def isatty(self) -> bool:
        return False


def _refuse_to_serve(*_args: object, **_kwargs: object):
    raise AssertionError("run_cli got past configuration: it only runs commands that exit")


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """`artifact-gateway *args` with `env` over an environment without AWS_*, MLFLOW_* and
    GATEWAY_* variables, as a finished process: exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, clean_env(**(env or {})), clear=True))
        stack.enter_context(mock.patch.object(sys, "stdin", _Stdin(stdin or "")))
        # main imports the server only to serve: these commands must end before that
        stack.enter_context(mock.patch("gateway.cli.serve.run", _refuse_to_serve))
        stack.enter_context(contextlib.redirect_stdout(stdout))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        try:
            code = cli_main.main(list(args))
        except SystemExit as exc:  # argparse: --help, unrecognized arguments
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return subprocess.CompletedProcess(
        ["artifact-gateway", *args], code, stdout.getvalue(), stderr.getvalue()
    )


def hash_password(secret: str) -> str:
    """The operator's way: `artifact-gateway hash-password` with the secret on stdin."""
    result = run_cli("hash-password", stdin=secret)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
