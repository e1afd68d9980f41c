"""Configuration: flags > GATEWAY_* env > YAML file; bad input stops start-up, one line each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.config import ConfigFileError, load_settings
from gateway.stores import InvalidDestination, create_store, default_options, scheme_of
from gateway.stores.local import LocalStore, local_root
from gateway.stores.s3 import MlflowS3Env, S3Store, parse_s3_uri
from tests.helpers.cli import run_cli


def test_defaults_match_the_brief(monkeypatch):
    for name in ("GATEWAY_PORT", "GATEWAY_HOST", "GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings([])
    assert (settings.host, settings.port) == ("127.0.0.1", 5500)
    assert settings.artifacts_destination == "./mlartifacts"
    assert settings.tracking_uri is None
    assert (settings.log_format, settings.shutdown_timeout) == ("text", 30.0)
    assert settings.metrics.enabled and not settings.metrics.require_permission


def test_flags_beat_env_and_env_beats_the_file(tmp_path, monkeypatch):
    config = tmp_path / "gateway.yaml"
    config.write_text("port: 7001\nhost: 0.0.0.0\nlog_level: debug\ns3:\n  part_size: 16MiB\n")
    monkeypatch.setenv("GATEWAY_PORT", "7002")
    monkeypatch.setenv("GATEWAY_S3__MAX_CONCURRENCY", "8")
    settings = load_settings(["--config", str(config)])
    assert settings.port == 7002 and settings.host == "0.0.0.0" and settings.log_level == "debug"
    assert settings.s3.part_size == 16 * 1024 * 1024 and settings.s3.max_concurrency == 8
    settings = load_settings(["--config", str(config), "--port", "7003"])
    assert settings.port == 7003


def test_edge_settings_take_mlflows_comma_form_from_flags_env_and_file(tmp_path, monkeypatch):
    defaults = load_settings([])
    assert defaults.allowed_hosts is None and defaults.trusted_proxies == []
    assert (defaults.header_timeout, defaults.body_idle_timeout) == (30.0, 60.0)
    assert defaults.ready_details is False
    flags = [
        *("--allowed-hosts", "mlflow.example.com,10.0.0.5:*"),
        *("--trusted-proxies", "10.0.0.1, 192.168.0.0/16"),
        *("--header-timeout", "5", "--body-idle-timeout", "7", "--ready-details"),
    ]
    settings = load_settings(flags)
    assert settings.allowed_hosts == ["mlflow.example.com", "10.0.0.5:*"]
    assert settings.trusted_proxies == ["10.0.0.1/32", "192.168.0.0/16"]
    assert (settings.header_timeout, settings.body_idle_timeout) == (5.0, 7.0)
    assert settings.ready_details is True
    config = tmp_path / "gateway.yaml"
    config.write_text("allowed_hosts: [a.example]\ntrusted_proxies: '::1'\n")
    assert load_settings(["--config", str(config)]).trusted_proxies == ["::1/128"]
    monkeypatch.setenv("GATEWAY_ALLOWED_HOSTS", "b.example, c.example:5500")
    settings = load_settings(["--config", str(config)])
    assert settings.allowed_hosts == ["b.example", "c.example:5500"]


def test_mlflow_s3_env_configures_the_default_destination(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    dest = default_options(
        load_settings(["--artifacts-destination", "s3://b/p"]).artifacts_destination
    )
    assert dest.endpoint_url == "http://minio:9000" and dest.verify_tls is False
    assert MlflowS3Env().mlflow_s3_endpoint_url == "http://minio:9000"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--port", "99999"], {}, ["port: Input should be less than or equal to 65535"]),
        (["--port", "1", "--chunk-size", "1"], {}, ["chunk_size: Input should be greater"]),
        ([], {"GATEWAY_PORT": "abc"}, ["port: Input should be a valid integer"]),
        (["--artifacts-destination", "ftp://b"], {}, ["unsupported destination 'ftp://b'"]),
        (["--artifacts-destination", "s3://"], {}, ["names no bucket"]),
        (["--artifacts-destination", "file://host/x"], {}, ["names a remote host"]),
        (["--config", "/no/such/file.yaml"], {}, ["does not exist"]),
        (["--trusted-proxies", "10.0.0.300"], {}, ["'10.0.0.300' is not an IP address or CIDR"]),
        (["--body-idle-timeout", "0"], {}, ["body_idle_timeout: Input should be greater"]),
        (["--metrics.require-permission"], {}, ["metrics.require_permission needs auth"]),
        (["--log-format", "xml"], {}, ["log_format: Input should be 'text' or 'json'"]),
        (["--shutdown-timeout", "-1"], {}, ["shutdown_timeout: Input should be greater"]),
    ],
)
def test_invalid_configuration_is_one_line_per_problem(args, env, expected):
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(expected), result.stderr
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith("artifact-gateway: error: ") and fragment in line
    assert "Traceback" not in result.stderr


def test_bad_config_file_reports_every_problem(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("port: -1\nbogus: 1\ns3:\n  part_size: 1KiB\n")
    result = run_cli("--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any("port:" in line for line in lines)
    assert any("bogus: Extra inputs are not permitted" in line for line in lines)
    assert any("s3.part_size:" in line for line in lines)
    broken = tmp_path / "broken.yaml"
    broken.write_text("port: [1\n")
    result = run_cli("--config", str(broken))
    assert result.returncode == 2
    assert result.stderr.startswith("artifact-gateway: error: config file is not valid YAML")


def test_help_lists_the_flags():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("--host", "--port", "--artifacts-destination", "--tracking-uri", "--config"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("uri", "windows", "expected"),
    [
        ("E:\\mlartifacts", True, "E:\\mlartifacts"),
        ("E:/mlartifacts", True, "E:\\mlartifacts"),
        ("file:///E:/mlartifacts", True, "E:\\mlartifacts"),
        ("file:/E:/ml%20artifacts", True, "E:\\ml artifacts"),
        ("file:///srv/ml%20artifacts", False, "/srv/ml artifacts"),
        ("file://localhost/srv/a", False, "/srv/a"),
        ("/srv/a/", False, "/srv/a"),
    ],
)
def test_local_roots_in_every_form(uri, windows, expected):
    assert local_root(uri, windows=windows) == expected


def test_relative_local_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_root("./mlartifacts", windows=False) == str(tmp_path / "mlartifacts")
    assert local_root("file:mlartifacts", windows=False) == str(tmp_path / "mlartifacts")


def test_windows_root_on_posix_is_refused():
    with pytest.raises(InvalidDestination, match="Windows path"):
        local_root("E:\\mlartifacts", windows=False)


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [("E:\\x", ""), ("c:/x", ""), ("./x", ""), ("file:///x", "file"), ("S3://b/p", "s3")],
)
def test_scheme_of(uri, scheme):
    assert scheme_of(uri) == scheme


def test_stores_are_chosen_by_scheme(tmp_path):
    settings = load_settings(["--artifacts-destination", str(tmp_path / "a")])
    store = create_store(default_options(settings.artifacts_destination), settings)
    assert isinstance(store, LocalStore)
    settings = load_settings(["--artifacts-destination", "s3://bucket/deep/prefix/"])
    store = create_store(default_options(settings.artifacts_destination), settings)
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("bucket", "deep/prefix")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigFileError):
        load_settings(["--config", str(Path(tmp_path) / "none.yaml")])


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [(None, False), ("https://minio.example:9000", False), ("http://127.0.0.1:9000", True)],
)
def test_s3_payload_is_signed_only_without_tls(endpoint, signed):
    """Over TLS botocore need not read every part again to SHA-256 it; over http it must."""
    settings = load_settings(["--artifacts-destination", "s3://bucket/p"])
    dest = default_options(settings.artifacts_destination)
    dest = dest.model_copy(update={"endpoint_url": endpoint})
    store = create_store(dest, settings)

    async def client_config():
        await store.start()
        try:
            return store._client.meta.config.s3
        finally:
            await store.close()

    assert asyncio.run(client_config())["payload_signing_enabled"] is signed
