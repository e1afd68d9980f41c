"""The `multipart` settings and `public_url`: defaults, validation, one line per problem."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import load_settings
from tests.helpers.cli import run_cli


def test_defaults(monkeypatch):
    monkeypatch.delenv("GATEWAY_MULTIPART__SIGNING_SECRET", raising=False)
    settings = load_settings([])
    multipart = settings.multipart
    assert multipart.signing_secret is None and multipart.direct is False
    assert (multipart.url_ttl, multipart.cleanup_age, multipart.cleanup_interval) == (
        3600,
        86400,
        3600,
    )
    assert multipart.max_part_size == 5 * 1024**3
    assert settings.public_url is None


def test_secret_from_env_stays_secret(monkeypatch):
    monkeypatch.setenv("GATEWAY_MULTIPART__SIGNING_SECRET", "s" * 40)
    settings = load_settings(["--multipart.max-part-size", "64MiB", "--multipart.direct"])
    assert settings.multipart.signing_secret.get_secret_value() == "s" * 40
    assert "s" * 40 not in repr(settings) and "s" * 40 not in str(settings.model_dump())
    assert settings.multipart.max_part_size == 64 * 1024**2 and settings.multipart.direct


def test_public_url_is_normalised():
    assert load_settings(["--public-url", "https://ml.example.com/gw/"]).public_url == (
        "https://ml.example.com/gw"
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--multipart.signing-secret", "short"], "at least 32 characters"),
        (["--multipart.url-ttl", "600", "--multipart.cleanup-age", "600"], "must exceed url_ttl"),
        (["--multipart.url-ttl", "0"], "url_ttl"),
        (["--multipart.max-part-size", "6GiB"], "max_part_size"),
        (["--public-url", "ftp://host"], "http:// or https://"),
        (["--public-url", "https://host/?a=1"], "query"),
    ],
)
def test_invalid_multipart_settings_are_refused(args, fragment):
    with pytest.raises(ValidationError, match=fragment):
        load_settings(args)


def test_invalid_multipart_setting_stops_start_up_with_one_line():
    result = run_cli("--multipart.cleanup-age", "10", "--multipart.url-ttl", "60")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("artifact-gateway: error: multipart: ") and "url_ttl" in line
