"""The gateway's command line as an operator runs it, and the config files they write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.stack import clean_env


def write_config(tmp_path: Path, config: dict | str) -> Path:
    """`config` (a mapping, or YAML text as written) in tmp_path/gateway.yaml."""
    path = tmp_path / "gateway.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**(env or {})),
        input=stdin,
        check=False,
    )
