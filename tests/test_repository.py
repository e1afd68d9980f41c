"""The repository keeps its promises: README commands, lint, and the deploy files' boundary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.config import load_settings
from gateway.stores import default_options

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200  # issue 20: everything else is in docs/


def shell_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)]


def test_readme_opens_with_run_and_test_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    blocks = shell_blocks(readme)
    run, test = blocks[0], blocks[1]
    assert "pip install" in run and run.endswith("artifact-gateway")
    assert "'.[test]'" in test and test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test
    # The rest lives in docs/: the README stays short, and its quick check is the fast tier.
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert 'python -m pytest -m "not slow"' in readme


def test_getting_started_page_gives_the_readme_commands():
    page = shell_blocks((ROOT / "docs" / "getting-started.md").read_text())
    assert page[:2] == shell_blocks((ROOT / "README.md").read_text())[:2]


def test_ruff_finds_nothing():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_compose_stack_gives_bucket_keys_to_the_gateway_only(monkeypatch):
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    gateway = services["gateway"]
    for name, value in gateway["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings(gateway["command"])
    assert default_options(settings.artifacts_destination).endpoint_url == "http://minio:9000"
    tracking = services["tracking"]
    assert not any("AWS_" in str(v) for v in tracking.get("environment", {}))
    command = " ".join(tracking["command"])
    assert "--no-serve-artifacts" in command and "/api/2.0/mlflow-artifacts/artifacts" in command
