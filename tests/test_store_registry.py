"""The store plug-in boundary: a scheme installed as a distribution with an entry point in
`mlflow_artifact_gateway.stores` works end to end (options, secrets, routing, HTTP) in a gateway
process that merely has it on its path; built-in schemes load only when used and cannot be
taken by a plug-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers import toy_store
from tests.helpers.stack import clean_env, start_gateway


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory holding the toy plug-in as an installed distribution."""
    return toy_store.install(tmp_path / "site")


def write_config(tmp_path: Path, destinations: dict) -> Path:
    config = tmp_path / "gateway.yaml"
    routes = [{"experiments": ["1"], "destination": next(iter(destinations))}]
    config.write_text(yaml.safe_dump({"destinations": destinations, "routes": routes}))
    return config


def env_with(site: Path | None, **env: str) -> dict[str, str]:
    """The test's environment, with `site` first on the path where the plug-in is installed."""
    path = [str(site) if site else "", os.environ.get("PYTHONPATH", "")]
    return clean_env(**env, PYTHONPATH=os.pathsep.join(filter(None, path)))


def gateway_command(*args: str, site: Path | None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_with(site, **env),
        check=False,
    )


def test_a_toy_plugin_serves_artifacts_over_http(site, tmp_path):
    """Write-once holds on a plug-in that knows nothing of it: the write routes look first."""
    play = {"uri": "toy://box", "colour": "blue", "write_once": ["*/models/*"]}
    config = write_config(tmp_path, {"play": play})
    args = ["--config", str(config), "--artifacts-destination", str(tmp_path / "files")]
    process, url = start_gateway(tmp_path, args, env_with(site))
    try:
        base = f"{url}/api/2.0/mlflow-artifacts/artifacts"
        put = requests.put(f"{base}/1/r/a.txt", data=b"toy bytes", timeout=30)
        got = requests.get(f"{base}/1/r/a.txt", timeout=30)
        listed = requests.get(base, params={"path": "1/r"}, timeout=30)
        missing = requests.get(f"{base}/1/r/none", timeout=30)
        once = [
            requests.put(f"{base}/1/models/m/MLmodel", data=d, timeout=30) for d in (b"a", b"b")
        ]
        kept = requests.get(f"{base}/1/models/m/MLmodel", timeout=30)
    finally:
        process.stop()
    assert put.status_code == 200 and got.content == b"toy bytes"
    assert listed.json() == {"files": [{"path": "a.txt", "is_dir": False, "file_size": None}]}
    assert missing.status_code == 404
    assert [r.status_code for r in once] == [200, 409] and kept.content == b"a"
    assert once[1].json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_the_plugin_gets_its_options_and_its_secrets_are_redacted(site, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("toy-token-from-file-93d1\n")
    play = {"uri": "toy://box", "colour": "blue", "token_file": str(secret)}
    config = write_config(tmp_path, {"play": play})
    result = gateway_command("routes", "--config", str(config), site=site, TOY_KEY="toy-5a7e")
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[1].split()
    assert row == ["1", "play", "toy://box", "colour=blue", "token=***", "key=***"]


def test_unknown_keys_are_refused_for_that_scheme_only(site, tmp_path):
    config = write_config(
        tmp_path,
        {
            "play": {"uri": "toy://box", "endpoint_url": "http://x"},  # an S3 key
            "bucket": {"uri": "s3://b", "colour": "blue"},  # a toy key
        },
    )
    result = gateway_command("routes", "--config", str(config), site=site)
    assert result.returncode == 2
    assert "destinations.play.endpoint_url: Extra inputs are not permitted" in result.stderr
    assert "destinations.bucket.colour: Extra inputs are not permitted" in result.stderr


def test_without_the_distribution_the_scheme_is_unsupported(tmp_path):
    config = write_config(tmp_path, {"play": {"uri": "toy://box"}})
    result = gateway_command("routes", "--config", str(config), site=None)
    assert result.returncode == 2
    assert "error: destinations.play: unsupported destination 'toy://box'" in result.stderr


def test_a_plugin_cannot_take_a_built_in_scheme(tmp_path):
    toy = "toy_store:STORE_TYPE"
    site = toy_store.install(tmp_path / "site", toy=toy, s3=toy)
    config = write_config(tmp_path, {"bucket": {"uri": "s3://b/p"}, "play": {"uri": "toy://x"}})
    result = gateway_command("routes", "--config", str(config), site=site)
    assert result.returncode == 0, result.stderr
    rows = {row.split()[1]: row.split() for row in result.stdout.splitlines()[1:]}
    assert rows["bucket"] == ["1", "bucket", "s3://b/p", "-"]  # the S3 store's, not the toy's
    refusals = [line for line in result.stderr.splitlines() if "refused" in line]
    assert len(refusals) == 1 and "scheme 's3' is already gateway.stores.s3" in refusals[0]
    assert "store plug-in toy_store:STORE_TYPE from toy-store refused" in refusals[0]


def test_a_plugin_that_does_not_load_is_its_destinations_error(tmp_path):
    site = toy_store.install(
        tmp_path / "site", gone="toy_store_gone:STORE_TYPE", other="toy_store:STORE_TYPE"
    )
    config = write_config(tmp_path, {"a": {"uri": "gone://x"}, "b": {"uri": "other://y"}})
    result = gateway_command("routes", "--config", str(config), site=site)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "artifact-gateway: error: destinations.a: store type toy_store_gone:STORE_TYPE for "
        "gone:// cannot be loaded: No module named 'toy_store_gone'",
        "artifact-gateway: error: destinations.b: toy_store:STORE_TYPE is not a StoreType for "
        "other://",
    ]


def _modules_loaded(destination: str, *names: str, site: Path | None = None) -> list[str]:
    """Which of `names` a gateway process has imported once its destinations are built."""
    code = (
        "import json, sys; from gateway.config import load_settings;"
        "from gateway.routing.build import build_destinations;"
        f"build_destinations(load_settings(['--artifacts-destination', {destination!r}]));"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({names!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env_with(site)
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_local_gateway_loads_no_other_backend_nor_an_unused_plugin(site, tmp_path):
    names = ("gateway.stores.s3", "aiobotocore", "gateway.stores.arrow", "pyarrow", "toy_store")
    assert _modules_loaded(str(tmp_path), *names, site=site) == []
    assert _modules_loaded("toy://box", "toy_store", site=site) == ["toy_store"]


def test_an_s3_gateway_does_not_load_pyarrow(tmp_path):
    loaded = _modules_loaded("s3://bucket/prefix", "gateway.stores.arrow", "pyarrow")
    assert loaded == []


def test_a_gcs_gateway_loads_its_own_scheme_only(tmp_path):
    """Azure's modules and the S3 backend do not come with a GCS store (its options are the
    pyarrow store's, which import no pyarrow: tests/unit/cli/test_lazy_imports.py)."""
    loaded = _modules_loaded("gs://bucket/prefix", "gateway.stores", "aiobotocore")
    assert "gateway.stores.gcs" in loaded and "gateway.stores.arrow.azure" not in loaded
    assert "gateway.stores.azure" not in loaded
    assert not any(name.startswith(("gateway.stores.s3", "aiobotocore")) for name in loaded)
