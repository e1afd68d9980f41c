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


def test_secret_from_a_file_as_kubernetes_mounts_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_MULTIPART__SIGNING_SECRET", raising=False)
    path = tmp_path / "signing_secret"
    path.write_text("f" * 40 + "\n")  # `kubectl create secret --from-file` keeps the newline
    settings = load_settings(["--multipart.signing-secret-file", str(path)])
    assert settings.multipart.signing_secret.get_secret_value() == "f" * 40
    assert "f" * 40 not in repr(settings) and "f" * 40 not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot read"), ("\n", "is empty"), ("short\n", "at least 32 characters")],
)
def test_unusable_secret_file_is_refused_with_its_reason(tmp_path, content, fragment):
    path = tmp_path / "signing_secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValidationError, match=fragment):
        load_settings(["--multipart.signing-secret-file", str(path)])


def test_secret_and_secret_file_together_stop_start_up(tmp_path):
    path = tmp_path / "signing_secret"
    path.write_text("f" * 40)
    both = ["--multipart.signing-secret", "s" * 40, "--multipart.signing-secret-file", str(path)]
    with pytest.raises(ValidationError, match="not both"):
        load_settings(both)
    result = run_cli(*both)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "signing_secret_file, not both" in line and "s" * 40 not in result.stderr
