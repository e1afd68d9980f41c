"""The repository keeps its promises: README commands, lint, the docs site, the deploy boundary."""

from __future__ import annotations

import os
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


def python_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m <args>` at the repository's root, as CI would run it."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ruff_finds_nothing():
    for args in (["check", "."], ["format", "--check", "."]):
        result = python_module("ruff", *args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_docs_build_strict(tmp_path: Path) -> None:
    """A broken link or anchor, a page left out of `nav`, a missing plot or included file fails
    here (mkdocs.yml has `strict: true`), not on a reader."""
    # NO_MKDOCS_2_WARNING: Material prints a notice about MkDocs 2 on every build; not a warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = python_module("mkdocs", "build", "--strict", "--site-dir", str(tmp_path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    # Content made it through: a table from a page, one included from tests/, and a plot.
    assert "<table>" in (tmp_path / "security" / "index.html").read_text()
    reliability = (tmp_path / "reliability" / "index.html").read_text()
    assert "test_kill_tracking_server_mid_passthrough_then_restart" in reliability
    assert (tmp_path / "img" / "throughput.png").stat().st_size > 0


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
