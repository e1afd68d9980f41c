"""gateway/config.py: flags > GATEWAY_* env > YAML file, and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigFileError, load_settings


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


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigFileError):
        load_settings(["--config", str(Path(tmp_path) / "none.yaml")])
