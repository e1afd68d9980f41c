"""The image, built from a Debian base and run read-only as non-root against SeaweedFS.

    python -m tests.deploy.image

Builds the base (mmdebstrap, cached) and the image (Dockerfile, wheels from the host), lists
the image's files, starts it with --read-only --network host, secrets only as mounted files,
runs the stock client through it (small upload, listing, download, multipart, ranges), checks
/health, /ready and the SIGTERM drain, and prints a JSON report (docs/deployment.md holds the
last one).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

from tests.deploy import podman as pm
from tests.deploy.flow import MIB, configure, round_trip
from tests.helpers.multipart import SECRET
from tests.helpers.processes import free_port, wait_until
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client

LISTING = r"""
import os, shutil
found = {"tests": [], "compilers": [], "caches": [], "wheels": []}
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
    for name in dirs + files:
        path = os.path.join(top, name)
        if name in ("tests", "conftest.py") and "site-packages" in path:
            found["tests"].append(path)
        if name.endswith(".whl"):
            found["wheels"].append(path)
        if name in (".cache", "pip") and not path.startswith("/usr/lib/python3"):
            found["caches"].append(path)
for tool in ("gcc", "cc", "c++", "g++", "clang", "x86_64-linux-gnu-gcc-12", "make", "pip", "pip3"):
    if shutil.which(tool):
        found["compilers"].append(shutil.which(tool))
found["apt_archives"] = [n for n in os.listdir("/var/cache/apt/archives") if n.endswith(".deb")] \
    if os.path.isdir("/var/cache/apt/archives") else []
found["tmp"] = os.listdir("/tmp")
found["uid"] = os.getuid()
print(__import__("json").dumps(found))
"""


def secrets(directory: Path, endpoint: str) -> Path:
    """The configuration and the bucket keys as files, mounted read-only at /run/secrets/gateway."""
    directory.mkdir(parents=True)
    (directory / "access_key_id").write_text(ADMIN.access_key)
    (directory / "secret_access_key").write_text(ADMIN.secret_key)
    (directory / "gateway.yaml").write_text(
        "destinations:\n"
        "  bucket:\n"
        f"    uri: s3://{BUCKET}/image\n"
        f"    endpoint_url: {endpoint}\n"
        "    region: us-east-1\n"
        "    access_key_id_file: /run/secrets/gateway/access_key_id\n"
        "    secret_access_key_file: /run/secrets/gateway/secret_access_key\n"
        "default_destination: bucket\n"
        "multipart:\n"
        f"  signing_secret: {SECRET}\n"
    )
    return directory


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def drain_check(env: dict[str, str], name: str, url: str, path: str) -> dict:
    """A download in flight when SIGTERM arrives completes; new connections are refused."""
    resp = requests.get(f"{url}/api/2.0/mlflow-artifacts/artifacts/{path}", stream=True, timeout=60)
    chunks = resp.iter_content(1024 * 1024)
    first = next(chunks)
    started = time.monotonic()
    pm.podman(env, "kill", "--signal", "TERM", name)
    refused = wait_until(lambda: not healthy(f"{url}/health"), timeout=10, step=0.1)
    received = len(first) + sum(len(chunk) for chunk in chunks)
    status = pm.podman(env, "wait", name, timeout=60).strip()
    return {
        "in_flight_completed_bytes": received,
        "new_connections_refused": refused,
        "exit_status": status,
        "exited_after_s": round(time.monotonic() - started, 2),
    }


def main() -> dict:
    env = pm.environment()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-image-"))
    report: dict = {}
    base = pm.base_image(env)
    seconds, report["build_cached"] = pm.build(env, workdir, base, pm.ROOT / "Dockerfile", pm.IMAGE)
    report["build_s"] = round(seconds, 1)
    report["size_mb"] = round(pm.image_size_mb(env, pm.IMAGE), 1)
    report["user"] = pm.podman(env, "image", "inspect", "--format", "{{.User}}", pm.IMAGE).strip()
    listing = pm.podman(
        env, "run", "--rm", "--read-only", "--entrypoint", "python", pm.IMAGE, "-c", LISTING
    )
    report["listing"] = json.loads(listing)
    seaweed = SeaweedS3(workdir / "s3", [ADMIN]).start()
    name = f"gateway-image-{free_port()}"
    try:
        admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
        mounted = secrets(workdir / "secrets", seaweed.endpoint)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        pm.podman(
            env, "run", "-d", "--name", name, "--read-only", "--network", "host",
            "--user", "10001:10001", "--tmpfs", "/tmp", "--tmpfs", "/data",
            "-v", f"{mounted}:/run/secrets/gateway:ro",
            pm.IMAGE, "--config", "/run/secrets/gateway/gateway.yaml",
            "--host", "127.0.0.1", "--port", str(port),
        )  # fmt: skip
        if not wait_until(lambda: healthy(f"{url}/health"), timeout=60, step=0.05):
            raise RuntimeError(pm.podman(env, "logs", name))
        report["start_s"] = round(time.monotonic() - started, 2)
        report["ready"] = healthy(f"{url}/ready")
        inspected = pm.podman(env, "inspect", "--format", "{{json .Config.Env}}", name)
        report["secret_in_env"] = any(
            s in inspected for s in (SECRET, ADMIN.secret_key, ADMIN.access_key)
        )
        configure(url)
        root = "image/run/artifacts"
        round_trip(url, root, workdir / "flow", 64 * 1024, 1)
        round_trip(url, root, workdir / "flow", 14 * MIB + 7, 2)
        big = round_trip(url, root, workdir / "flow", 30 * MIB, 3)
        report["client_flow"] = "small PUT, listing, download, 3-part multipart, ranged download"
        report["drain"] = drain_check(env, name, url, f"{root}/files/{big}.bin")
        logs = pm.podman(env, "logs", name)
        report["secret_in_logs"] = any(s in logs for s in (SECRET, ADMIN.secret_key))
    finally:
        pm.podman(env, "rm", "--force", "--ignore", name)
        seaweed.stop()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    result = main()
    listing = result["listing"]
    bad = listing["tests"] or listing["compilers"] or listing["caches"] or listing["wheels"]
    sys.exit(1 if bad or result["secret_in_env"] or result["secret_in_logs"] else 0)
