"""gateway/cli/main.py: bad input stops start-up, one line each, never a traceback."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--port", "99999"], {}, ["port: Input should be less than or equal to 65535"]),
        (["--port", "1", "--chunk-size", "1"], {}, ["chunk_size: Input should be greater"]),
        ([], {"GATEWAY_PORT": "abc"}, ["port: Input should be a valid integer"]),
        (["--artifacts-destination", "gopher://b"], {}, ["unsupported destination 'gopher://b'"]),
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
