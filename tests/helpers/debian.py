"""Debian tools a test or harness needs, installed on first use (CI is a fresh machine).

One place for the apt-get dance: install, and when that fails because a fresh machine has no
package lists yet, `apt-get update` and install again. Every call has a timeout.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

APT_TIMEOUT = 600.0


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, check=False
    )


def ensure_installed(packages: Sequence[str], paths: Sequence[Path | str]) -> list[str]:
    """Installs `packages` unless every one of `paths` exists already; returns the log."""
    wanted = [Path(path) for path in paths]
    if all(path.exists() for path in wanted):
        return []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    done: list[str] = []
    result = _run(install, env)
    done.append(" ".join(install) + f" -> {result.returncode}")
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        update = _run(["apt-get", "update"], env)
        done.append(f"apt-get update -> {update.returncode}")
        result = _run(install, env)
        done.append(" ".join(install) + f" -> {result.returncode}")
    if result.returncode != 0 or not all(path.exists() for path in wanted):
        raise RuntimeError(
            f"could not install {' '.join(packages)}:\n"
            + "\n".join(done)
            + "\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return done
