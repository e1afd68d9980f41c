"""Podman on this kind of machine: runc, cgroupfs, small rlimits, a base made by mmdebstrap.

No registry is reached: the base root file system is built from Debian packages and imported,
and the gateway's wheels are made on the host (`pip wheel`, from PyPI) and installed in the
image with --no-index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import debian

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path.home() / ".cache" / "mlflow-artifact-gateway-tests" / "deploy"
SUITE = "bookworm"
BASE = f"localhost/gateway-base:{SUITE}"
IMAGE = "localhost/mlflow-artifact-gateway:dev"
TOOLS = {
    "podman": "/usr/bin/podman",
    "runc": "/usr/sbin/runc",
    "mmdebstrap": "/usr/bin/mmdebstrap",
    "catatonit": "/usr/bin/catatonit",  # kube play's pause container
}
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def environment() -> dict[str, str]:
    """Installs podman, runc and mmdebstrap when missing; returns the env podman needs here."""
    debian.ensure_installed(tuple(TOOLS), tuple(Path(p) for p in TOOLS.values()))
    CACHE.mkdir(parents=True, exist_ok=True)
    conf = CACHE / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(env: dict[str, str], *args: str, timeout: float = 600.0) -> str:
    """Runs podman; raises with its output when it fails."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def has_image(env: dict[str, str], name: str) -> bool:
    result = subprocess.run(
        ["podman", "image", "exists", name], env=env, timeout=60, check=False, capture_output=True
    )
    return result.returncode == 0


def base_image(env: dict[str, str]) -> str:
    """The Debian base (python3, python3-venv, ca-certificates), built once and cached."""
    if has_image(env, BASE):
        return BASE
    tarball = CACHE / f"rootfs-{SUITE}.tar"
    if not tarball.exists():
        partial = tarball.with_suffix(".partial.tar")
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                SUITE,
                str(partial),
            ],
            check=True,
            timeout=1200,
            capture_output=True,
        )
        partial.rename(tarball)
    podman(env, "import", str(tarball), BASE)
    return BASE


def build(env: dict[str, str], workdir: Path, base: str, dockerfile: Path, tag: str) -> float:
    """Builds `dockerfile` with the project's wheels as context; returns the seconds it took."""
    context = workdir / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--wheel-dir",
            str(context / "wheelhouse"),
            str(ROOT),
        ],
        check=True,
        timeout=1200,
    )
    started = time.monotonic()
    podman(
        env,
        "build",
        "--build-arg",
        f"BASE={base}",
        "-t",
        tag,
        "-f",
        str(dockerfile),
        str(context),
        timeout=1800,
    )
    return time.monotonic() - started


def image_size_mb(env: dict[str, str], tag: str) -> float:
    return int(podman(env, "image", "inspect", "--format", "{{.Size}}", tag).strip()) / 1e6
