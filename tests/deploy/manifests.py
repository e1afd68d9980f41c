"""Reading the objects kustomize renders from deploy/kubernetes: one kind, the gateway's pod,
its mounts, options and quantities, for tests/deploy/test_kubernetes.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.helpers import ROOT, under

# Where the Secrets are created (`kubectl create secret generic`), for the reader and this test.
DEPLOYMENT_PAGE = ROOT / "docs" / "deployment.md"


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in pod["containers"] if c["name"] == name]
    assert len(matches) == 1, f"no single container {name!r} in the pod"
    return matches[0]


def gateway_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found = [
        d
        for d in of_kind(docs, "Deployment")
        if any(c["name"] == "gateway" for c in d["spec"]["template"]["spec"]["containers"])
    ]
    assert len(found) == 1, "expected exactly one Deployment with a gateway container"
    return found[0]


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return gateway_deployment(docs)["spec"]["template"]["spec"]


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, str]:
    return gateway_deployment(docs)["spec"]["template"]["metadata"]["labels"]


def volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod.get("volumes", [])}


def option(argv: list[str], name: str) -> str | None:
    """The value of `--name X` or `--name=X` in an argument list."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def config_mount(docs: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The gateway's --config path and the ConfigMap data mounted where it points."""
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    path = option(gateway.get("args", []), "--config")
    assert path, "the gateway gets no --config"
    for mount in gateway["volumeMounts"]:
        if under(path, [mount["mountPath"]]):
            source = volumes(pod)[mount["name"]]
            assert "configMap" in source, f"{path} is not on a ConfigMap volume"
            name = source["configMap"]["name"]
            maps = [m for m in of_kind(docs, "ConfigMap") if m["metadata"]["name"] == name]
            assert maps, f"the ConfigMap {name} is not among the rendered objects"
            return path, maps[0]["data"]
    raise AssertionError(f"nothing is mounted at {path}")


def gateway_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    path, data = config_mount(docs)
    return yaml.safe_load(data[Path(path).name])


def secret_mounts(pod: dict[str, Any], ctr: dict[str, Any]) -> dict[str, str]:
    """mountPath -> Secret name, for the container's mounts of Secret volumes."""
    found = {}
    for mount in ctr.get("volumeMounts", []):
        source = volumes(pod)[mount["name"]]
        if "secret" in source:
            found[mount["mountPath"]] = source["secret"]["secretName"]
        for projected in source.get("projected", {}).get("sources", []):
            if "secret" in projected:
                found[mount["mountPath"]] = projected["secret"]["name"]
    return found


def writable_mounts(pod: dict[str, Any], ctr: dict[str, Any]) -> list[str]:
    paths = []
    for mount in ctr.get("volumeMounts", []):
        source = volumes(pod)[mount["name"]]
        writable_kind = "emptyDir" in source or "persistentVolumeClaim" in source
        if writable_kind and not mount.get("readOnly"):
            paths.append(mount["mountPath"])
    return paths


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (`512Mi`, `1Gi`, `500m`, `2`) as a number."""
    units = {
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "m": 1e-3,
        "": 1,
    }
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match and match.group(2) in units, f"not a quantity: {value!r}"
    return float(match.group(1)) * units[match.group(2)]


def port_number(ctr: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in ctr.get("ports", []) if p.get("name") == port]
    assert named, f"container {ctr['name']} has no port named {port!r}"
    return named[0]


def pre_stop_seconds(ctr: dict[str, Any]) -> int:
    handler = ctr.get("lifecycle", {}).get("preStop")
    if not handler:
        return 0
    if "sleep" in handler:
        return int(handler["sleep"]["seconds"])
    command = handler.get("exec", {}).get("command", [])
    assert command[:1] == ["sleep"], f"unknown preStop {handler}: count its time in this test"
    return int(command[1])


def documented_secret_keys() -> dict[str, set[str]]:
    """Secret name -> keys, from the `kubectl create secret generic` commands in the docs."""
    text = DEPLOYMENT_PAGE.read_text().replace("\\\n", " ")
    secrets: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.search(r"create secret generic ([a-z0-9-]+)(.*)", line)
        if match:
            keys = set(re.findall(r"--from-(?:file|literal)=([A-Za-z0-9_.-]+)=", match.group(2)))
            secrets[match.group(1)] = keys
    return secrets
