"""deploy/kubernetes: each overlay rendered by kustomize, validated against the Kubernetes
schemas (kubernetes-validate, offline) and checked for the invariants a schema cannot see."""

from __future__ import annotations

import copy
import importlib.metadata
import re
from pathlib import Path

import kubernetes_validate
import pytest

from tests.deploy.helpers import (
    DEFAULT_DRAIN_SECONDS,
    OVERLAYS,
    dockerfile_env,
    dockerfile_user,
    flags_in,
    gateway_flags,
    mlflow_server_options,
    run_gateway,
    selects,
    under,
)
from tests.deploy.manifests import (
    DEPLOYMENT_PAGE,
    config_mount,
    container,
    documented_secret_keys,
    gateway_config,
    gateway_deployment,
    of_kind,
    only,
    option,
    pod_labels,
    pod_spec,
    port_number,
    pre_stop_seconds,
    quantity,
    secret_mounts,
    volumes,
    writable_mounts,
)

pytestmark = pytest.mark.slow

# The oldest Kubernetes minor the manifests are meant for, and the newest schemas bundled.
OLDEST = "1.30"
LATEST = ".".join(kubernetes_validate.latest_version().split(".")[:2])
VERSIONS = [f"1.{minor}" for minor in range(30, int(LATEST.split(".")[1]) + 1)]

BUCKET_SECRET = "gateway-bucket-credentials"
SIGNING_SECRET = "gateway-signing"
SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")
# docs/performance.md: RSS of the gateway process, idle and at the peak of one 4 GiB transfer.
MEASURED_PEAK_RSS = 160 * 2**20
MEMORY_BUDGET_CONTAINER = 512 * 2**20  # what the gateway's memory budget default is sized for

EXPECTED_KINDS = {
    "sidecar": [
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Service",
    ],
    "service": [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    ],
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


# --- the schemas --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(rendered, overlay, version):
    for doc in rendered[overlay]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field_and_a_wrong_type(rendered):
    deployment = gateway_deployment(rendered["service"])
    misspelt = copy.deepcopy(deployment)
    container(misspelt["spec"]["template"]["spec"], "gateway")["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, OLDEST, strict=True)
    wrong_type = copy.deepcopy(deployment)
    container(wrong_type["spec"]["template"]["spec"], "gateway")["ports"][0]["containerPort"] = [1]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, OLDEST, strict=True)


# --- what the schemas cannot see ----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_its_objects_and_no_secret(rendered, overlay):
    kinds = sorted(doc["kind"] for doc in rendered[overlay])
    assert kinds == EXPECTED_KINDS[overlay]
    namespaces = {doc["metadata"].get("namespace") for doc in rendered[overlay]}
    assert namespaces == {"mlflow"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_and_references_meet(rendered, overlay):
    docs = rendered[overlay]
    deployment = gateway_deployment(docs)
    labels = pod_labels(docs)
    assert selects(deployment["spec"]["selector"], labels)
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    service = only(docs, "Service")
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    for port in service["spec"]["ports"]:
        # Only the gateway's port is published, never the tracking server's.
        assert port_number(gateway, port["targetPort"]) == 5500
    rendered_names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    referenced_secrets = set()
    for source in volumes(pod).values():
        if "configMap" in source:
            assert ("ConfigMap", source["configMap"]["name"]) in rendered_names
        if "persistentVolumeClaim" in source:
            claim = source["persistentVolumeClaim"]["claimName"]
            assert ("PersistentVolumeClaim", claim) in rendered_names
        if "secret" in source:
            referenced_secrets.add(source["secret"]["secretName"])
    for ctr in pod["containers"]:
        for env in ctr.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced_secrets.add(ref["name"])
    # Created by hand, never rendered: docs/deployment.md says how, with these names.
    assert referenced_secrets == {BUCKET_SECRET, SIGNING_SECRET}
    assert referenced_secrets <= set(documented_secret_keys())
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        assert selects(pdb["spec"]["selector"], labels)
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_gateway_on_the_right_paths(rendered, overlay):
    gateway = container(pod_spec(rendered[overlay]), "gateway")
    port = gateway_config(rendered[overlay])["port"]
    expected = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"}
    for probe, path in expected.items():
        assert probe in gateway, f"the gateway has no {probe}"
        get = gateway[probe]["httpGet"]
        assert get["path"] == path, probe
        assert port_number(gateway, get["port"]) == port, probe
    # /ready asks every destination (10 s each at most): the probe must not give up at once.
    assert gateway["readinessProbe"].get("timeoutSeconds", 1) >= 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_non_root_on_a_read_only_root(rendered, overlay):
    pod = pod_spec(rendered[overlay])
    uid, gid = dockerfile_user()
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for ctr in pod["containers"]:
        security = ctr["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, ctr["name"]
        assert security["allowPrivilegeEscalation"] is False, ctr["name"]
        assert security["capabilities"]["drop"] == ["ALL"], ctr["name"]
        assert security.get("runAsUser", uid) != 0, ctr["name"]
    # The places the image says it writes to (HOME, TMPDIR) are writable mounts.
    gateway = container(pod, "gateway")
    image_env = dockerfile_env()
    for name in ("HOME", "TMPDIR"):
        assert under(image_env[name], writable_mounts(pod, gateway)), name
    for ctr in pod["containers"]:
        env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
        if "HOME" in env:
            assert under(env["HOME"], writable_mounts(pod, ctr)), ctr["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_outlasts_pre_stop_and_drain(rendered, overlay):
    pod = pod_spec(rendered[overlay])
    gateway = container(pod, "gateway")
    config = gateway_config(rendered[overlay])
    drain = option(gateway.get("args", []), "--shutdown-timeout")
    assert drain is not None, "the drain's limit is stated where the grace period is"
    drain = float(drain) if drain else float(config.get("shutdown_timeout", DEFAULT_DRAIN_SECONDS))
    grace = pod["terminationGracePeriodSeconds"]
    assert grace >= 45
    assert grace >= pre_stop_seconds(gateway) + drain + 10
    for ctr in pod["containers"]:
        # SIGKILL comes at the grace period whatever a preStop hook still waits for.
        assert pre_stop_seconds(ctr) + 10 <= grace, ctr["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_bucket_keys_only_in_the_secret_mounted_as_files(rendered, overlay):
    docs = rendered[overlay]
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    mounts = secret_mounts(pod, gateway)
    bucket_dirs = [path for path, name in mounts.items() if name == BUCKET_SECRET]
    assert len(bucket_dirs) == 1
    created_keys = documented_secret_keys()[BUCKET_SECRET]
    destinations = gateway_config(docs)["destinations"]
    assert destinations
    for name, destination in destinations.items():
        for field in SECRET_FIELDS:
            assert field not in destination, f"{name}.{field} in the ConfigMap"
        assert {"access_key_id_file", "secret_access_key_file"} <= destination.keys()
        for field in SECRET_FIELDS:
            path = destination.get(f"{field}_file")
            if path is not None:
                assert Path(path).parent.as_posix() == bucket_dirs[0], path
                assert Path(path).name in created_keys, path
    for ctr in pod["containers"]:
        assert "envFrom" not in ctr, ctr["name"]
        for env in ctr.get("env", []):
            name = env["name"]
            assert not name.startswith("AWS_"), (ctr["name"], name)
            assert not re.fullmatch(r"GATEWAY_DESTINATIONS__.+__(\w+)", name), (ctr["name"], name)
        if ctr["name"] != "gateway":
            assert BUCKET_SECRET not in secret_mounts(pod, ctr).values(), ctr["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_accepts_its_arguments_environment_and_configuration(
    rendered, overlay, tmp_path
):
    """`artifact-gateway routes` with the container's args, env and mounted files, as in the pod.

    Mount paths are moved under tmp_path; Secret values are stand-ins (40-character files with
    the names docs/deployment.md creates). `routes` loads and checks the
    whole configuration, secret files included, and reaches no bucket."""
    docs = rendered[overlay]
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    args = gateway.get("args", [])
    unknown = set(flags_in(args)) - gateway_flags()
    assert not unknown, f"not in artifact-gateway --help: {unknown}"

    moved = {
        m["mountPath"]: str(tmp_path / m["mountPath"].lstrip("/")) for m in gateway["volumeMounts"]
    }

    # One pass, longest first, only where a path starts: a moved path is not moved again.
    mount_path = "|".join(re.escape(m) for m in sorted(moved, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])({mount_path})(?=/|\s|$)", re.M)

    def move(text: str) -> str:
        return pattern.sub(lambda match: moved[match.group(1)], text)

    for mount in gateway["volumeMounts"]:
        source = volumes(pod)[mount["name"]]
        directory = Path(moved[mount["mountPath"]])
        directory.mkdir(parents=True, exist_ok=True)
        if "configMap" in source:
            _, data = config_mount(docs)
            for key, value in data.items():
                (directory / key).write_text(move(value))
        if "secret" in source:
            for key in documented_secret_keys()[source["secret"]["secretName"]]:
                # 40 characters: the signing secret's file must hold at least 32.
                (directory / key).write_text(f"stand-in-{key}".ljust(40, "x") + "\n")
    env = {}
    for item in gateway.get("env", []):
        env[item["name"]] = item.get("value", "s" * 40)  # a stand-in for each secretKeyRef
    result = run_gateway(["routes", *[move(a) for a in args]], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    default = gateway_config(docs)["default_destination"]
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert ["*", default] in [row[:2] for row in rows], result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_replica_signs_with_the_one_shared_secret(rendered, overlay):
    docs = rendered[overlay]
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    # One pod template runs the gateway, so every replica mounts the same Secret.
    assert workloads == [gateway_deployment(docs)]
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    # Only as a mounted file: no variable (`secretKeyRef`) and no flag carries it.
    assert not [e for e in gateway.get("env", []) if "SIGNING" in e["name"].upper()]
    assert option(gateway.get("args", []), "--multipart.signing-secret") is None
    multipart = gateway_config(docs)["multipart"]
    assert "signing_secret" not in multipart
    path = Path(multipart["signing_secret_file"])
    assert secret_mounts(pod, gateway).get(path.parent.as_posix()) == SIGNING_SECRET
    source = next(
        v for v in volumes(pod).values() if v.get("secret", {}).get("secretName") == SIGNING_SECRET
    )
    assert source["secret"].get("optional") is not True  # no pod may start with a secret of its own
    assert path.name in documented_secret_keys()[SIGNING_SECRET]
    for ctr in pod["containers"]:
        if ctr["name"] != "gateway":
            assert SIGNING_SECRET not in secret_mounts(pod, ctr).values(), ctr["name"]
    page = DEPLOYMENT_PAGE.read_text()
    assert re.search(r"--from-literal=signing_secret=\"\$\(openssl rand -hex (\d+)\)\"", page)
    length = int(re.search(r"openssl rand -hex (\d+)", page).group(1)) * 2
    assert length >= 32


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_resources_follow_the_measured_memory(rendered, overlay):
    resources = container(pod_spec(rendered[overlay]), "gateway")["resources"]
    request = quantity(resources["requests"]["memory"])
    limit = quantity(resources["limits"]["memory"])
    assert request >= MEASURED_PEAK_RSS
    assert limit >= MEMORY_BUDGET_CONTAINER
    assert limit >= request
    assert quantity(resources["requests"]["cpu"]) > 0


def test_the_service_scales_and_survives_disruptions(rendered):
    docs = rendered["service"]
    deployment = gateway_deployment(docs)
    assert "replicas" not in deployment["spec"], "the HPA owns the count; apply would reset it"
    hpa = only(docs, "HorizontalPodAutoscaler")
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    metrics = hpa["spec"]["metrics"]
    assert [m["resource"]["name"] for m in metrics] == ["cpu"]
    assert "cpu" in container(pod_spec(docs), "gateway")["resources"]["requests"]
    pdb = only(docs, "PodDisruptionBudget")["spec"]
    if "maxUnavailable" in pdb:
        assert 1 <= pdb["maxUnavailable"] < hpa["spec"]["minReplicas"]
    else:
        assert 1 <= pdb["minAvailable"] < hpa["spec"]["minReplicas"]
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
    assert gateway_config(docs).get("tracking_uri") is None
    assert option(container(pod_spec(docs), "gateway").get("args", []), "--tracking-uri") is None


def test_the_sidecar_tracking_server_holds_no_bucket_key(rendered):
    docs = rendered["sidecar"]
    pod = pod_spec(docs)
    gateway = container(pod, "gateway")
    tracking = container(pod, "tracking")
    assert [c["name"] for c in pod["containers"]] == ["gateway", "tracking"]
    assert "envFrom" not in tracking
    for env in tracking.get("env", []):
        assert not env["name"].startswith(("AWS_", "GATEWAY_", "MLFLOW_S3_")), env["name"]
        assert "valueFrom" not in env, env["name"]
    assert secret_mounts(pod, tracking) == {}
    argv = tracking["command"][2:] + tracking.get("args", [])
    assert tracking["command"][:2] == ["mlflow", "server"]
    assert "--no-serve-artifacts" in argv
    assert "--serve-artifacts" not in argv and "--artifacts-only" not in argv
    assert option(argv, "--host") == "127.0.0.1"  # reachable from inside the pod only
    assert option(argv, "--default-artifact-root") == "mlflow-artifacts:/"
    assert option(argv, "--backend-store-uri")
    assert not tracking.get("ports")
    port = option(argv, "--port")
    assert option(gateway["args"], "--tracking-uri") == f"http://127.0.0.1:{port}"


def test_the_sidecar_tracking_server_options_exist_in_its_mlflow(rendered):
    tracking = container(pod_spec(rendered["sidecar"]), "tracking")
    argv = tracking["command"][2:] + tracking.get("args", [])
    unknown = set(flags_in(argv)) - mlflow_server_options()
    assert not unknown, f"not options of mlflow server: {unknown}"
    tag = tracking["image"].rsplit(":", 1)[1]
    assert tag == "v" + importlib.metadata.version("mlflow"), "image and test extra disagree"


def test_the_sidecar_backend_store_is_on_its_volume(rendered):
    docs = rendered["sidecar"]
    pod = pod_spec(docs)
    tracking = container(pod, "tracking")
    uri = option(tracking.get("args", []), "--backend-store-uri")
    assert uri.startswith("sqlite:////")
    database = uri.removeprefix("sqlite:///")
    assert under(str(Path(database).parent), writable_mounts(pod, tracking))
    assert gateway_deployment(docs)["spec"]["strategy"]["type"] == "Recreate"
    assert gateway_deployment(docs)["spec"]["replicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_gateway_pods_reach_the_object_store(rendered, overlay):
    docs = rendered[overlay]
    labels = pod_labels(docs)
    config = gateway_config(docs)
    endpoint_ports = {
        int(re.search(r":(\d+)", d["endpoint_url"].split("//", 1)[1]).group(1))
        for d in config["destinations"].values()
        if d.get("endpoint_url")
    }
    policies = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if not selects(p["spec"]["podSelector"], labels) and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert len(policies) == 1, "expected one ingress policy for the object store"
    spec = policies[0]["spec"]
    assert spec["podSelector"].get("matchLabels") or spec["podSelector"].get("matchExpressions")
    other_pod = {"app.kubernetes.io/name": "mlflow-tracking", "app": "anything-else"}
    allowed_ports = set()
    assert spec["ingress"], "no ingress rule at all would deny the gateway too"
    for rule in spec["ingress"]:
        assert rule.get("from"), "a rule without `from` admits every pod"
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"}, f"{peer}: only pods of this namespace"
            assert selects(peer["podSelector"], labels)
            assert not selects(peer["podSelector"], other_pod)
        assert rule.get("ports"), "a rule without ports admits every port"
        allowed_ports |= {p["port"] for p in rule["ports"]}
    assert endpoint_ports <= allowed_ports
