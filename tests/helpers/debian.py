"""Debian packages a test or the benchmark harness needs, installed when missing.

CI is a fresh machine: the tool is installed by the code that needs it, with apt-get under a
timeout, and `apt-get update` once if the first install fails (a fresh machine may have no
package lists yet). One place for every caller (chromium, wrk, haproxy, nginx).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

APT_TIMEOUT = 600.0


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, check=False
    )


def ensure_installed(packages: tuple[str, ...], programs: tuple[Path, ...]) -> list[str]:
    """Installs `packages` unless every one of `programs` exists; returns what was run.

    Raises RuntimeError with apt's output when the programs are still missing."""
    if all(program.exists() for program in programs):
        return []
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    result = _run(install)
    done = [" ".join(install) + f" -> {result.returncode}"]
    if result.returncode != 0:
        update = _run(["apt-get", "update"])
        done.append(f"apt-get update -> {update.returncode}")
        result = _run(install)
        done.append(" ".join(install) + f" -> {result.returncode}")
    if result.returncode != 0 or not all(program.exists() for program in programs):
        raise RuntimeError(
            f"could not install {' '.join(packages)}:\n"
            + "\n".join(done)
            + "\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return done
