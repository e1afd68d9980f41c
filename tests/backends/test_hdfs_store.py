"""HDFS honestly: no Hadoop, JVM or libhdfs on these machines, so the HDFS store is checked at
its edges only. The store itself is the shared `ArrowStore` (the conformance suite runs it over
GCS, Azure and pyarrow's local filesystem); here: the exact `HadoopFileSystem` arguments built
from configuration and from MLflow's variables (a stand-in records the constructor's call), and
the one-line start-up errors when the runtime is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pyarrow import fs as pafs

from gateway.config import load_settings
from gateway.routing.build import build_destinations
from gateway.stores.arrow import hdfs
from tests.helpers.stack import clean_env

pytestmark = pytest.mark.slow

LAKE = {
    "uri": "hdfs://namenode:8020/mlartifacts",
    "user": "mlflow",
    "kerberos_ticket_cache": "/tmp/krb5cc_1000",
    "extra_conf": {"dfs.client.use.datanode.hostname": "true"},
}


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `missing_runtime` looks for, as files and variables (no JVM is started)."""
    (tmp_path / "jdk").mkdir()
    (tmp_path / "native").mkdir()
    (tmp_path / "native" / "libhdfs.so").write_bytes(b"")
    env = {
        "JAVA_HOME": str(tmp_path / "jdk"),
        "CLASSPATH": "/opt/hadoop/share/hadoop/common/hadoop-common.jar",
        "ARROW_LIBHDFS_DIR": str(tmp_path / "native"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_HDFS_DRIVER", raising=False)
    return env


@pytest.fixture
def constructor(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Stands in for `pyarrow.fs.HadoopFileSystem` (which would start a JVM): records kwargs."""
    calls: list[dict] = []

    def record(**kwargs):
        calls.append(kwargs)
        return pafs.LocalFileSystem()

    monkeypatch.setattr(pafs, "HadoopFileSystem", record)
    return calls


def build(tmp_path: Path, args: list[str], destinations: dict | None = None):
    if destinations is not None:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            yaml.safe_dump({"destinations": destinations, "default_destination": "lake"})
        )
        args = [*args, "--config", str(config)]
    return build_destinations(load_settings(args))


def test_configured_destination_builds_these_arguments(runtime, constructor, tmp_path):
    destinations = build(tmp_path, ["--artifacts-destination", str(tmp_path)], {"lake": LAKE})
    store = destinations.stores["lake"]
    assert store.endpoint == "hdfs://namenode:8020"
    assert store.base == "/mlartifacts"
    store._connect()
    assert constructor == [
        {
            "host": "hdfs://namenode",
            "port": 8020,
            "user": "mlflow",
            "kerb_ticket": "/tmp/krb5cc_1000",
            "extra_conf": {"dfs.client.use.datanode.hostname": "true"},
        }
    ]


def test_artifacts_destination_reads_mlflows_variables(runtime, constructor, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_KERBEROS_TICKET_CACHE", "/tmp/krb5cc_42")
    monkeypatch.setenv("MLFLOW_KERBEROS_USER", "etl@EXAMPLE.COM")
    monkeypatch.setenv("MLFLOW_PYARROW_EXTRA_CONF", "dfs.replication=2,fs.x=a=b")
    store = build(tmp_path, ["--artifacts-destination", "hdfs:///mlartifacts"]).default
    store._connect()
    assert constructor == [
        {
            "host": "default",  # the cluster's fs.defaultFS, as MLflow names it
            "port": 0,
            "user": "etl@EXAMPLE.COM",
            "kerb_ticket": "/tmp/krb5cc_42",
            "extra_conf": {"dfs.replication": "2", "fs.x": "a=b"},
        }
    ]


def test_options_override_the_uri_and_default_to_nothing(runtime):
    bare = hdfs.HdfsOptions(uri="hdfs://nn.example:9000/a")
    assert hdfs.filesystem_arguments(bare) == {
        "host": "hdfs://nn.example",
        "port": 9000,
        "user": None,
        "kerb_ticket": None,
        "extra_conf": None,
    }
    moved = hdfs.HdfsOptions(uri="hdfs://nn.example:9000/a", host="other", port=8020)
    assert hdfs.filesystem_arguments(moved)["host"] == "hdfs://other"
    assert hdfs.filesystem_arguments(moved)["port"] == 8020


def run_gateway(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in clean_env(**env).items() if k not in ("JAVA_HOME", "CLASSPATH")},
    )


def test_without_a_jvm_and_libhdfs_start_up_fails_in_one_line(tmp_path):
    done = run_gateway(["--artifacts-destination", "hdfs://namenode:8020/ml", "--port", "0"])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("artifact-gateway: error: HDFS destination hdfs://namenode:8020/ml")
    for needed in ("JAVA_HOME", "CLASSPATH", "hadoop classpath --glob", "ARROW_LIBHDFS_DIR"):
        assert needed in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def test_the_libhdfs3_driver_is_refused_with_a_reason(tmp_path):
    done = run_gateway(
        ["--artifacts-destination", "hdfs://namenode:8020/ml"], MLFLOW_HDFS_DRIVER="libhdfs3"
    )
    assert done.returncode == 2
    assert "MLFLOW_HDFS_DRIVER=libhdfs3 is not supported" in done.stderr
    assert "pyarrow no longer ships" in done.stderr and "Traceback" not in done.stderr


def test_routes_shows_the_namenode(runtime, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump({"destinations": {"lake": LAKE}, "default_destination": "lake"})
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "routes", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**runtime),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == [
        "*",
        "lake",
        "hdfs://namenode:8020/mlartifacts",
        "hdfs://namenode:8020",
    ]
