"""`podman kube play` of deployment B (the service overlay) with its ConfigMap and Secrets.

    python -m tests.deploy.kube

Renders deploy/kubernetes/overlays/service with kustomize, keeps what kube play runs (the
Deployment and its ConfigMap), adds the two Secrets the base references, points the image at
the one tests/deploy/image.py built and the bucket at a SeaweedFS on 127.0.0.1, then runs the
stock client through the pod. With one host and host networking, one replica (the replicas are
tests/deploy/replicas.py's). Not checked by kube play: HPA, PDB, NetworkPolicy, Service
routing, and probes as the kubelet runs them.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.deploy import podman as pm
from tests.deploy.flow import MIB, configure, round_trip
from tests.deploy.helpers import DEPLOY, kustomize
from tests.deploy.image import healthy
from tests.helpers.multipart import SECRET
from tests.helpers.processes import free_port, wait_until
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client

KEPT = {"Deployment", "ConfigMap"}


def secret(name: str, data: dict[str, str]) -> dict:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


def service_objects(home: Path, endpoint: str, port: int) -> tuple[list[dict], list[str]]:
    """The overlay's objects as kube play gets them, and the kinds left out."""
    rendered = kustomize(DEPLOY / "kubernetes" / "overlays" / "service", home)
    left_out = sorted({o["kind"] for o in rendered if o["kind"] not in KEPT})
    objects = [o for o in rendered if o["kind"] in KEPT]
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "gateway.yaml" in obj.get("data", {}):
            config = yaml.safe_load(obj["data"]["gateway.yaml"])
            for destination in config["destinations"].values():
                destination["uri"] = f"s3://{BUCKET}/kube"
                destination["endpoint_url"] = endpoint
            obj["data"]["gateway.yaml"] = yaml.safe_dump(config)
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 1
            pod = obj["spec"]["template"]["spec"]
            pod["hostNetwork"] = True  # SeaweedFS and the client are on the host's 127.0.0.1
            for volume in pod["volumes"]:  # Podman 4.3 dereferences `optional` unchecked
                if "secret" in volume:
                    volume["secret"].setdefault("optional", False)
            for container in pod["containers"]:
                # Host networking takes no port mappings in Podman; probes name the port.
                container.pop("ports", None)
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if probe in container:
                        container[probe]["httpGet"]["port"] = port
                container["image"] = pm.IMAGE
                container["args"] = [*container["args"], "--host", "127.0.0.1", "--port", str(port)]
    objects.append(
        secret(
            "gateway-bucket-credentials",
            {"access_key_id": ADMIN.access_key, "secret_access_key": ADMIN.secret_key},
        )
    )
    objects.append(secret("gateway-signing", {"signing_secret": SECRET}))
    return objects, left_out


def remove_secret(env: dict[str, str], name: str) -> None:
    command = ["podman", "secret", "rm", name]
    subprocess.run(command, env=env, timeout=60, check=False, capture_output=True)


def main() -> dict:
    env = pm.environment()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-kube-"))
    if not pm.has_image(env, pm.IMAGE):
        raise SystemExit("build the image first: python -m tests.deploy.image")
    seaweed = SeaweedS3(workdir / "s3", [ADMIN]).start()
    manifest = workdir / "service.yaml"
    report: dict = {}
    try:
        admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        objects, report["not_run_by_kube_play"] = service_objects(workdir, seaweed.endpoint, port)
        # Podman 4.3 resolves Secrets from its own store and reads a Secret volume's as YAML,
        # a secretKeyRef's as JSON: each Secret is stored as JSON (which is YAML too). Podman
        # 4.3.1 still refuses the secretKeyRef (docs/deployment.md, "kube play").
        for obj in (o for o in objects if o["kind"] == "Secret"):
            stored = workdir / f"{obj['metadata']['name']}.json"
            stored.write_text(json.dumps(obj))
            remove_secret(env, obj["metadata"]["name"])  # one left by an interrupted run
            pm.podman(env, "secret", "create", obj["metadata"]["name"], str(stored))
            stored.unlink()
        manifest.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Secret"]))
        started = time.monotonic()
        pm.podman(env, "kube", "play", "--replace", str(manifest), timeout=300)
        if not wait_until(lambda: healthy(f"{url}/health"), timeout=90, step=0.1):
            raise RuntimeError(pm.podman(env, "pod", "ps"))
        report["start_s"] = round(time.monotonic() - started, 2)
        report["ready"] = healthy(f"{url}/ready")
        configure(url)
        round_trip(url, "kube/run/artifacts", workdir / "flow", 64 * 1024, 1)
        round_trip(url, "kube/run/artifacts", workdir / "flow", 14 * MIB + 7, 2)
        report["client_flow"] = "small PUT, listing, download, 3-part multipart, ranged download"
        report["passed"] = True
    finally:
        try:
            if manifest.exists():  # no pod if kube play failed: its error is the one raised
                down = ["podman", "kube", "down", str(manifest)]
                subprocess.run(down, env=env, timeout=180, check=False, capture_output=True)
            for name in ("gateway-bucket-credentials", "gateway-signing"):
                remove_secret(env, name)
        finally:
            seaweed.stop()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main().get("passed") else 1)
