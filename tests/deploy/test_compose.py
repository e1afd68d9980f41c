"""deploy/docker-compose.yml: valid against the Compose specification, keys for the gateway only,
a gateway command that the gateway accepts, and a Prometheus and Grafana wired to it.

The schema is the Compose specification's own `compose-spec.json` as vendored (with its
Apache-2.0 licence) in the check-jsonschema wheel of the test extra, so nothing is fetched."""

from __future__ import annotations

import copy
import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    dockerfile_env,
    dockerfile_volumes,
    flags_in,
    gateway_flags,
    run_gateway,
    under,
)

pytestmark = pytest.mark.slow

COMPOSE = DEPLOY / "docker-compose.yml"
# The services that are the object store itself (and so know its keys).
OBJECT_STORE = {"minio", "create-bucket"}
BUCKET_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# `docker compose up` without a profile starts the stack it always started.
DEFAULT_STACK = {"postgres", "minio", "create-bucket", "gateway", "tracking"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's bind mounts (short syntax)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((COMPOSE.parent / source).resolve(), target))
    return mounts


def container_path(service: dict[str, Any], host_path: Path) -> str:
    for source, target in bind_mounts(service):
        if host_path.resolve() == source:
            return target
    raise AssertionError(f"{host_path} is not mounted into the service")


def test_the_file_is_valid_against_the_compose_specification(compose, validator):
    errors = sorted(validator.iter_errors(compose), key=str)
    assert not errors, "\n".join(e.message for e in errors)


def test_the_compose_schema_rejects_what_compose_would(compose, validator):
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["tmpfs"] = {"/tmp": True}
    assert not validator.is_valid(broken)
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["enviroment"] = {"A": "b"}
    assert not validator.is_valid(broken)


def test_bucket_keys_reach_the_gateway_and_the_store_only(compose):
    services = compose["services"]
    gateway = environment(services["gateway"])
    key_id = gateway["AWS_ACCESS_KEY_ID"]
    secrets = {gateway[name] for name in BUCKET_KEY_VARIABLES[1:] if name in gateway}
    assert secrets, "the gateway has no bucket secret"
    for name, service in services.items():
        if name == "gateway" or name in OBJECT_STORE:
            continue
        env = environment(service)
        assert not any(v.startswith("AWS_") for v in env), name
        assert key_id not in env.values(), name
        text = json.dumps(service)
        for secret in secrets:
            assert secret not in text, f"the bucket secret is in the service {name}"
        assert "secrets" not in service, name


def test_the_tracking_server_serves_no_artifacts_and_points_at_the_gateway(compose):
    tracking = compose["services"]["tracking"]
    command = tracking["command"]
    assert "--no-serve-artifacts" in command
    root = [a for a in command if a.startswith("--default-artifact-root=")]
    assert root == [
        "--default-artifact-root=http://localhost:5500/api/2.0/mlflow-artifacts/artifacts"
    ]
    assert "5500:5500" in compose["services"]["gateway"]["ports"]


def test_the_gateway_accepts_its_command_and_environment(compose, tmp_path):
    gateway = compose["services"]["gateway"]
    unknown = set(flags_in(gateway["command"])) - gateway_flags()
    assert not unknown, f"not in artifact-gateway --help: {unknown}"
    env = {**dockerfile_env(), **environment(gateway)}
    env["GATEWAY_ARTIFACTS_DESTINATION"] = str(tmp_path / "unused")
    result = run_gateway(["routes", *gateway["command"]], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split()[:3] for line in result.stdout.splitlines()[1:]]
    assert rows == [["*", "default", "s3://mlflow/artifacts"]], result.stdout


def test_the_gateway_runs_on_a_read_only_root(compose):
    gateway = compose["services"]["gateway"]
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in gateway["security_opt"]
    writable = [t.split(":")[0] for t in gateway.get("tmpfs", [])] + dockerfile_volumes()
    image_env = dockerfile_env()
    for name in ("HOME", "TMPDIR"):
        assert under(image_env[name], gateway.get("tmpfs", [])), name
    assert under(image_env["GATEWAY_ARTIFACTS_DESTINATION"], writable)


def test_monitoring_is_opt_in(compose):
    services = compose["services"]
    default = {name for name, s in services.items() if not s.get("profiles")}
    assert default == DEFAULT_STACK
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]


def test_prometheus_scrapes_the_gateways_metrics(compose):
    prometheus = compose["services"]["prometheus"]
    config_path = DEPLOY / "prometheus" / "prometheus.yml"
    target = container_path(prometheus, config_path)
    assert f"--config.file={target}" in prometheus["command"]
    config = yaml.safe_load(config_path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["mlflow-artifact-gateway"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for s in job["static_configs"] for t in s["targets"]]
    gateway_port = compose["services"]["gateway"]["ports"][0].split(":")[-1]
    assert targets == [f"gateway:{gateway_port}"]


def test_grafana_loads_the_dashboard_from_the_prometheus(compose):
    services = compose["services"]
    grafana = services["grafana"]
    provisioning = container_path(grafana, DEPLOY / "grafana" / "provisioning")
    assert provisioning == "/etc/grafana/provisioning"
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"]
    prometheus_port = services["prometheus"]["ports"][0].split(":")[-1]
    assert [d["url"] for d in datasources if d["type"] == "prometheus"] == [
        f"http://prometheus:{prometheus_port}"
    ]
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "gateway.yaml").read_text()
    )["providers"]
    dashboards = DEPLOY / "grafana" / "dashboards"
    assert [p["options"]["path"] for p in providers] == [container_path(grafana, dashboards)]
    assert (dashboards / "mlflow-artifact-gateway.json").is_file()
    for source, _ in bind_mounts(grafana) + bind_mounts(services["prometheus"]):
        assert source.exists(), source
