"""Podman on this kind of machine: runc, cgroupfs, small rlimits, a base made by mmdebstrap.

No registry is reached: the base root file system is built from Debian packages and imported,
and the gateway's wheels are made on the host (`pip wheel`, from PyPI) and installed in the
image with --no-index.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
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


def content_tag(base_id: str, dockerfile: Path, wheelhouse: Path) -> str:
    """A tag naming what the image is built from: the base, the Dockerfile, each wheel's files.

    Wheels are hashed by their members, not their zip bytes, which carry build times."""
    digest = hashlib.sha256(base_id.encode() + dockerfile.read_bytes())
    for wheel in sorted(wheelhouse.glob("*.whl")):
        digest.update(wheel.name.encode())
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                digest.update(member.encode() + archive.read(member))
    return digest.hexdigest()[:16]


def build(
    env: dict[str, str],
    workdir: Path,
    base: str,
    dockerfile: Path,
    tag: str,
    requirement: str = str(ROOT),
) -> tuple[float, bool]:
    """Builds `dockerfile` with the wheels of `requirement` as context, unless an image built
    from the same base, Dockerfile and wheels exists (then it is tagged `tag` again).

    Returns the seconds the build took and whether the cached image was used."""
    context = workdir / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir"]
    subprocess.run([*wheel, str(context / "wheelhouse"), requirement], check=True, timeout=1800)
    base_id = podman(env, "image", "inspect", "--format", "{{.Id}}", base).strip()
    cached = f"{tag.rsplit(':', 1)[0]}:{content_tag(base_id, dockerfile, context / 'wheelhouse')}"
    started = time.monotonic()
    if has_image(env, cached):
        podman(env, "tag", cached, tag)
        return 0.0, True
    podman(
        env,
        "build",
        "--build-arg",
        f"BASE={base}",
        "-t",
        cached,
        "-t",
        tag,
        "-f",
        str(dockerfile),
        str(context),
        timeout=1800,
    )
    return time.monotonic() - started, False


def image_size_mb(env: dict[str, str], tag: str) -> float:
    return int(podman(env, "image", "inspect", "--format", "{{.Size}}", tag).strip()) / 1e6
