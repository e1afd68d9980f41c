"""`podman kube play` of both deployments with their ConfigMaps and Secrets, the stock client
end to end against each.

    python -m tests.deploy.kube [service|sidecar]     # both when no argument is given

Renders the overlay with kustomize, keeps what kube play runs (the Deployment, its ConfigMap,
the sidecar's PersistentVolumeClaim), adds the two Secrets the base references, points the
gateway image at the one tests/deploy/image.py built, the tracking server's at one built the
same way (tests/deploy/tracking-server.Dockerfile), and the bucket at a SeaweedFS on 127.0.0.1.
With one host and host networking, one replica (the replicas are tests/deploy/replicas.py's).
Not checked by kube play: HPA, PDB, NetworkPolicy, Service routing, and probes as the kubelet
runs them.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import podman as pm
from tests.deploy.flow import MIB, configure, round_trip
from tests.deploy.helpers import DEPLOY, kustomize
from tests.deploy.image import healthy
from tests.deploy.tracked import tracked_run
from tests.helpers.multipart import SECRET
from tests.helpers.processes import free_port, wait_until
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, BUCKET, admin_client

KEPT = {"Deployment", "ConfigMap", "PersistentVolumeClaim"}
SECRETS = {
    "gateway-bucket-credentials": {
        "access_key_id": ADMIN.access_key,
        "secret_access_key": ADMIN.secret_key,
    },
    "gateway-signing": {"signing_secret": SECRET},
}
TRACKING_IMAGE = "localhost/mlflow-tracking-server:dev"
TRACKING_PORT = "127.0.0.1:5000"  # where the sidecar overlay puts the tracking server


def secret(name: str, data: dict[str, str]) -> dict:
    # Values as they are, not base64: Podman 4.3.1 writes a Secret volume's `data` values to
    # the files without decoding them (with `stringData` the gateway did not get its keys
    # either). Only Podman's store gets this object; kubectl would refuse it.
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}


def tracking_image(env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """The tracking server's image: the project's pinned mlflow, built like the gateway's."""
    pin = f"mlflow=={importlib.metadata.version('mlflow')}"
    dockerfile = Path(__file__).with_name("tracking-server.Dockerfile")
    seconds, cached = pm.build(
        env, workdir / "tracking", pm.base_image(env), dockerfile, TRACKING_IMAGE, pin
    )
    size = round(pm.image_size_mb(env, TRACKING_IMAGE), 1)
    return {"mlflow": pin, "build_s": round(seconds, 1), "cached": cached, "size_mb": size}


def adapt_gateway_config(obj: dict, endpoint: str) -> None:
    config = yaml.safe_load(obj["data"]["gateway.yaml"])
    for destination in config["destinations"].values():
        destination["uri"] = f"s3://{BUCKET}/kube"
        destination["endpoint_url"] = endpoint
    obj["data"]["gateway.yaml"] = yaml.safe_dump(config)


def adapt_pod(pod: dict, port: int, tracking: str) -> None:
    """One host: host networking on free ports, the images built here."""
    pod["hostNetwork"] = True  # SeaweedFS and the client are on the host's 127.0.0.1
    for volume in pod["volumes"]:  # Podman 4.3 dereferences `optional` unchecked
        if "secret" in volume:
            volume["secret"].setdefault("optional", False)
    for container in pod["containers"]:
        # Host networking takes no port mappings in Podman; probes name the port.
        container.pop("ports", None)
        args = [a.replace(TRACKING_PORT, tracking) for a in container.get("args", [])]
        if container["name"] == "gateway":
            container["image"] = pm.IMAGE
            container["args"] = [*args, "--host", "127.0.0.1", "--port", str(port)]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if "httpGet" in container.get(probe, {}):
                    container[probe]["httpGet"]["port"] = port
        else:
            container["image"] = TRACKING_IMAGE
            container["args"] = [a.replace("--port=5000", f"--port={tracking[10:]}") for a in args]
            for probe in ("livenessProbe",):
                command = container.get(probe, {}).get("exec", {}).get("command", [])
                command[:] = [c.replace(TRACKING_PORT, tracking) for c in command]


def objects_for(overlay: str, home: Path, endpoint: str, port: int) -> tuple[list[dict], list]:
    """The overlay's objects as kube play gets them, and the kinds left out."""
    rendered = kustomize(DEPLOY / "kubernetes" / "overlays" / overlay, home)
    left_out = sorted({o["kind"] for o in rendered if o["kind"] not in KEPT})
    objects = [o for o in rendered if o["kind"] in KEPT]
    tracking = f"127.0.0.1:{free_port()}"
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "gateway.yaml" in obj.get("data", {}):
            adapt_gateway_config(obj, endpoint)
        if obj["kind"] == "PersistentVolumeClaim":
            # The volume's owner: Kubernetes gives it the pod's fsGroup, Podman these.
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations.update({"volume.podman.io/uid": "10001", "volume.podman.io/gid": "10001"})
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 1
            adapt_pod(obj["spec"]["template"]["spec"], port, tracking)
    objects.extend(secret(name, data) for name, data in SECRETS.items())
    return objects, left_out


def podman_volumes(objects: list[dict]) -> list[str]:
    """The named volumes kube play makes and `kube down` (4.3.1) leaves: the claims', and the
    ConfigMaps' and Secrets' (with the secret values in them)."""
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    for obj in (o for o in objects if o["kind"] == "Deployment"):
        for volume in obj["spec"]["template"]["spec"]["volumes"]:
            names += [volume["secret"]["secretName"]] if "secret" in volume else []
            names += [volume["configMap"]["name"]] if "configMap" in volume else []
    return names


def podman_quiet(env: dict[str, str], *args: str) -> None:
    """A clean-up step whose failure (nothing to remove) is not an error."""
    subprocess.run(["podman", *args], env=env, timeout=180, check=False, capture_output=True)


def store_secrets(env: dict[str, str], objects: list[dict], workdir: Path) -> None:
    # Podman 4.3 resolves Secrets from its own store, not the YAML, and reads a Secret volume's
    # as YAML: each Secret is stored as JSON (which is YAML too).
    for obj in (o for o in objects if o["kind"] == "Secret"):
        stored = workdir / f"{obj['metadata']['name']}.json"
        stored.write_text(json.dumps(obj))
        podman_quiet(env, "secret", "rm", obj["metadata"]["name"])  # left by an interrupted run
        pm.podman(env, "secret", "create", obj["metadata"]["name"], str(stored))
        stored.unlink()


def play(overlay: str, env: dict[str, str], workdir: Path, endpoint: str) -> dict:
    report: dict[str, Any] = {}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    objects, report["not_run_by_kube_play"] = objects_for(overlay, workdir, endpoint, port)
    volumes = podman_volumes(objects)
    manifest = workdir / f"{overlay}.yaml"
    try:
        store_secrets(env, objects, workdir)
        for name in volumes:
            podman_quiet(env, "volume", "rm", "--force", name)
        manifest.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Secret"]))
        started = time.monotonic()
        pm.podman(env, "kube", "play", "--replace", str(manifest), timeout=300)
        if not wait_until(lambda: healthy(f"{url}/ready"), timeout=120, step=0.1):
            pods = pm.podman(env, "pod", "ps", "--format", "{{.Name}}").split()
            logs = [pm.podman(env, "pod", "logs", "--tail", "20", pod) for pod in pods]
            raise RuntimeError(f"{url}/ready not 200 in 120 s; {pods}: {logs}")
        report["start_to_ready_s"] = round(time.monotonic() - started, 2)
        configure(url)
        root = f"kube-{overlay}/run/artifacts"
        round_trip(url, root, workdir / "flow", 64 * 1024, 1)
        round_trip(url, root, workdir / "flow", 14 * MIB + 7, 2)
        report["client_flow"] = "small PUT, listing, download, 3-part multipart, ranged download"
        if overlay == "sidecar":
            report["tracked_run"] = tracked_run(url, endpoint, workdir / "tracked")
        report["passed"] = True
    finally:
        if manifest.exists():  # no pod if kube play failed: its error is the one raised
            podman_quiet(env, "kube", "down", str(manifest))
        for name in SECRETS:
            podman_quiet(env, "secret", "rm", name)
        for name in volumes:
            podman_quiet(env, "volume", "rm", "--force", name)
    return report


def main(overlays: list[str]) -> dict:
    env = pm.environment()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-kube-"))
    if not pm.has_image(env, pm.IMAGE):
        raise SystemExit("build the image first: python -m tests.deploy.image")
    report: dict[str, Any] = {}
    if "sidecar" in overlays:
        report["tracking_image"] = tracking_image(env, workdir)
    seaweed = SeaweedS3(workdir / "s3", [ADMIN]).start()
    try:
        admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
        for overlay in overlays:
            try:
                report[overlay] = play(overlay, env, workdir, seaweed.endpoint)
            except Exception as exc:  # reported; the other overlay still runs
                report[overlay] = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        seaweed.stop()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["service", "sidecar"]
    result = main(chosen)
    sys.exit(0 if all(result[o].get("passed") for o in chosen) else 1)
