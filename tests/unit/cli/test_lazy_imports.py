"""`routes` and `check-config` load settings and destinations, not the server: neither
`aiohttp.web` nor pyarrow is imported. Each runs in a fresh interpreter, which reports the
command's exit status and every module it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.auth.passwords import hash_secret

SERVER_ONLY = ("aiohttp.web", "pyarrow")
_REPORT = (
    "import json, sys\n"
    "from gateway.cli.main import main\n"
    "status = main(sys.argv[1:]) if sys.argv[1:] else None\n"
    "print(json.dumps([status, sorted(sys.modules)]))\n"
)


def run(*argv: str, code: str = _REPORT) -> tuple[int | None, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_"))}
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    status, modules = json.loads(out.stdout.splitlines()[-1])
    return status, set(modules)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Every section that could pull in more: auth, trusted proxies, an S3 destination."""
    path = tmp_path / "gateway.yaml"
    settings = {
        "destinations": {
            "files": {"uri": str(tmp_path / "files")},
            "bucket": {  # nothing listens on port 9: check-config finds it unreachable
                "uri": "s3://bucket/prefix",
                "endpoint_url": "http://127.0.0.1:9",
                "access_key_id": "toy-key",
                "secret_access_key": "toy-secret",
            },
        },
        "routes": [
            {"experiments": ["1-9"], "destination": "files"},
            {"experiments": ["10"], "destination": "bucket"},
        ],
        "trusted_proxies": ["10.0.0.0/8"],
        "auth": {"users": [{"name": "ada", "password_hash": hash_secret("pw"), "permissions": {}}]},
    }
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.mark.parametrize("command", ["routes", "check-config"])
def test_operator_commands_do_not_load_the_server(command, config, tmp_path):
    status, modules = run(command, "--config", str(config), "--s3.connect-timeout", "2")
    assert status == (0 if command == "routes" else 1)  # 1: the bucket is unreachable
    assert "gateway.stores.s3" in modules  # the destinations were built
    assert sorted(modules & set(SERVER_ONLY)) == []


def test_the_server_path_does_load_aiohttp_web():
    """The check above can see it: the module `main` defers to imports the server."""
    _, modules = run(code=f"import gateway.cli.serve\n{_REPORT}")
    assert "aiohttp.web" in modules


def test_routes_over_pyarrow_destinations_does_not_load_pyarrow(tmp_path):
    """gs:// and wasbs:// stores (native since issue 27) are built without pyarrow, which
    only an hdfs:// store loads. (hdfs:// refuses to build on a machine without a JVM.)"""
    path = tmp_path / "gateway.yaml"
    settings = {
        "destinations": {
            "gcs": {"uri": "gs://bucket/prefix", "anonymous": True},
            "azure": {"uri": "wasbs://box@acct.blob.core.windows.net/p", "account_key": "k"},
        },
        "routes": [
            {"experiments": ["1"], "destination": "gcs"},
            {"experiments": ["2"], "destination": "azure"},
        ],
    }
    path.write_text(yaml.safe_dump(settings))
    status, modules = run("routes", "--config", str(path))
    assert status == 0
    assert {"gateway.stores.gcs.compose", "gateway.stores.azure.blocks"} <= set(modules)
    assert sorted(m for m in modules if m.startswith("pyarrow")) == []


def routes_over(tmp_path: Path, destinations: dict[str, dict]) -> set[str]:
    """The modules `routes` loads for these destinations, experiment n+1 routed to the n-th."""
    routes = [{"experiments": [str(n + 1)], "destination": d} for n, d in enumerate(destinations)]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"destinations": destinations, "routes": routes}))
    status, modules = run("routes", "--config", str(path))
    assert status == 0
    return modules


def test_routes_over_sftp_and_ftp_destinations_does_not_load_their_libraries(tmp_path):
    """asyncssh and aioftp load when such a store first connects, not when it is built."""
    modules = routes_over(
        tmp_path,
        {
            "sftp": {"uri": "sftp://ada@files.example/ml", "password": "pw"},
            "ftp": {"uri": "ftps://ada@files.example/ml", "password": "pw"},
        },
    )
    assert "gateway.stores.tree.store" in modules  # the stores were built
    assert sorted(m for m in modules if m.split(".")[0] in ("asyncssh", "aioftp")) == []


def test_jwt_and_cryptography_load_only_for_oidc():
    """PyJWT with cryptography is several MiB of idle RSS: a gateway without `auth.oidc`
    (the CLI, the server, the app) never loads them."""
    code = f"import gateway.cli.serve, gateway.http.app\n{_REPORT}"
    _, modules = run(code=code)
    assert sorted(m for m in modules if m.split(".")[0] in ("jwt", "cryptography")) == []
