"""The real entry points, as processes: `python -m gateway` and the `artifact-gateway` console
script reach `gateway.cli.main.main` and pass its exit code on. Everything else about the command
line runs in-process through tests/helpers/cli.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.stack import clean_env

SCRIPT = Path(sys.executable).with_name("artifact-gateway")  # installed by `pip install -e .`


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "gateway"], [str(SCRIPT)]])
def test_the_entry_point_runs_main_and_passes_its_exit_code_on(argv):
    run = dict(capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    helped = subprocess.run([*argv, "--help"], **run)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: artifact-gateway")
    refused = subprocess.run([*argv, "--port", "99999"], **run)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "artifact-gateway: error: port: Input should be less than or equal to 65535"
    ]
