"""Configuration of the tracking server behind the gateway: `--tracking-uri` and `upstream.*`."""

from __future__ import annotations

import pytest

from gateway.config import load_settings
from tests.helpers.cli import run_cli


def test_upstream_defaults_and_sources(tmp_path, monkeypatch):
    for name in ("GATEWAY_TRACKING_URI", "GATEWAY_CONFIG", "GATEWAY_UPSTREAM__READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings([])
    assert settings.tracking_uri is None
    assert settings.upstream.forward_authorization is True
    assert settings.upstream.gateway_hosts == []
    monkeypatch.setenv("GATEWAY_TRACKING_URI", "http://tracking:5000/")
    monkeypatch.setenv("GATEWAY_UPSTREAM__CONNECT_TIMEOUT", "3")
    config = tmp_path / "gateway.yaml"
    config.write_text("upstream:\n  read_timeout: 30\n  gateway_hosts: [gw.example:5500]\n")
    settings = load_settings(["--config", str(config), "--upstream.max-connections", "8"])
    assert settings.tracking_uri == "http://tracking:5000"
    assert settings.upstream.connect_timeout == 3 and settings.upstream.read_timeout == 30
    assert settings.upstream.max_connections == 8
    assert settings.upstream.gateway_hosts == ["gw.example:5500"]


def test_tracking_uri_may_have_a_path_prefix():
    settings = load_settings(["--tracking-uri", "https://tracking.example/mlflow/"])
    assert settings.tracking_uri == "https://tracking.example/mlflow"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--tracking-uri", "sqlite:///mlflow.db"], "tracking_uri: Value error, must be an http"),
        (["--tracking-uri", "http://"], "tracking_uri: Value error, must be an http"),
        (["--tracking-uri", "http://t:5000/?x=1"], "must not have a query"),
        (["--upstream.read-timeout", "0"], "upstream.read_timeout: Input should be greater than 0"),
        (["--upstream.bogus", "1"], "unrecognized arguments"),
    ],
)
def test_invalid_upstream_settings_stop_start_up(args, expected):
    result = run_cli(*args)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_credentials_in_the_tracking_uri_are_refused_without_echoing_them():
    result = run_cli("--tracking-uri", "http://admin:hunter2-secret@tracking:5000")
    assert result.returncode == 2
    assert "must not contain credentials" in result.stderr
    assert "hunter2-secret" not in result.stderr
