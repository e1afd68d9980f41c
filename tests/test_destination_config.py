"""Destinations, routes and users in configuration, and the commands that show and check them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.auth.passwords import TokenHash, lookup_id, verify
from gateway.config import load_settings
from gateway.routing.table import InvalidRouting, RoutingTable
from gateway.stores import default_options, parse_options
from gateway.tenancy import key_of
from tests.helpers.cli import run_cli, write_config
from tests.helpers.processes import free_port
from tests.helpers.stack import ADMIN, TEAM_A

ROOT = Path(__file__).resolve().parents[1]
NLP_SECRET = "nlp-secret-from-env-4d2c"
TENANCY_PAGE = ROOT / "docs" / "tenancy.md"  # the complete example and the `routes` table


def documented_block(page: Path, language: str, containing: str) -> str:
    """The first fenced block of `language` in a Markdown file that contains `containing`."""
    text = page.read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
    return next(block for block in blocks if containing in block)


@pytest.fixture
def documented_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The complete example of docs/tenancy.md, with its secret file and variable provided."""
    secret = tmp_path / "vision"
    secret.write_text("vision-secret-from-file\n")
    text = documented_block(TENANCY_PAGE, "yaml", "destinations:")
    text = text.replace("/run/secrets/vision", str(secret))
    text = text.replace("/mnt/nfs/mlartifacts", str(tmp_path / "archive"))
    monkeypatch.setenv("GATEWAY_DESTINATIONS__NLP__SECRET_ACCESS_KEY", NLP_SECRET)
    return write_config(tmp_path, text)


def test_documented_example_loads_with_secrets_from_file_and_environment(documented_config):
    settings = load_settings(["--config", str(documented_config)])
    vision, nlp = (parse_options(settings.destinations[name]) for name in ("vision", "nlp"))
    assert vision.with_secret_files().secret_access_key.get_secret_value() == (
        "vision-secret-from-file"
    )
    assert nlp.secret_access_key.get_secret_value() == NLP_SECRET
    table = RoutingTable.from_settings(settings)
    expected = {"7": "vision", "2": "archive", "10": "archive", "20": "archive", "21": "vision"}
    expected |= {"35": "nlp", "007": "vision", "models": "vision", "": "vision"}
    assert {e: table.destination_of(key_of(e)) for e in expected} == expected
    users = {user.name: user for user in settings.auth.users}
    assert verify("change-me-alice", users["alice"].password_hash.get_secret_value())
    assert verify("change-me-ci-token", users["ci"].token_hash.get_secret_value())
    assert NLP_SECRET not in repr(settings) and "vision-secret" not in repr(settings)


def test_routes_prints_the_table_shown_in_the_docs(documented_config, tmp_path):
    result = run_cli(
        "routes",
        "--config",
        str(documented_config),
        env={"GATEWAY_DESTINATIONS__NLP__SECRET_ACCESS_KEY": NLP_SECRET},
    )
    assert result.returncode == 0, result.stderr
    documented = documented_block(TENANCY_PAGE, "text", "route  destination").replace(
        "/mnt/nfs/mlartifacts", str(tmp_path / "archive")
    )
    assert [line.split() for line in result.stdout.splitlines()] == [
        line.split() for line in documented.splitlines()
    ]


def test_readme_short_example_loads_and_routes_as_it_says(tmp_path):
    text = documented_block(ROOT / "README.md", "yaml", "destinations:")
    text = text.replace("/run/secrets/vision", str(tmp_path / "vision"))
    (tmp_path / "vision").write_text("vision-secret\n")
    settings = load_settings(["--config", str(write_config(tmp_path, text))])
    table = RoutingTable.from_settings(settings)
    expected = {"7": "vision", "10": "vision", "20": "vision", "8": "archive", "21": "archive"}
    assert {e: table.destination_of(key_of(e)) for e in expected} == expected
    (user,) = settings.auth.users
    token = re.search(r"# token (\S+)", text).group(1)
    assert TokenHash.parse(user.token_hash.get_secret_value()).matches(token)


def test_environment_alone_can_configure_destinations_and_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_DESTINATIONS__ARCHIVE__URI", str(tmp_path))
    monkeypatch.setenv("GATEWAY_DEFAULT_DESTINATION", "archive")
    settings = load_settings([])
    assert parse_options(settings.destinations["archive"]).uri == str(tmp_path)
    assert RoutingTable.from_settings(settings).destination_of(key_of("3")) == "archive"


def test_without_routes_the_flag_destination_serves_everything(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
    settings = load_settings(["--artifacts-destination", "s3://b/p"])
    table = RoutingTable.from_settings(settings)
    assert table.rows() == [("*", "default")]
    assert default_options(settings.artifacts_destination).endpoint_url == "http://minio:9000"


@pytest.mark.parametrize(
    ("destination", "fragment"),
    [
        ({"uri": "s3://b", "access_key_id": "AKID"}, "give both access_key_id and"),
        ({"uri": "s3://b", "secret_access_key": "s", "secret_access_key_file": "/f"}, "not both"),
        ({"uri": "s3://b", "bogus": 1}, "Extra inputs are not permitted"),
        ({"uri": " "}, "must not be empty"),
    ],
)
def test_invalid_destinations_are_refused(destination, fragment, tmp_path):
    path = write_config(tmp_path, {"destinations": {"vision": destination}})
    with pytest.raises(ValidationError, match=fragment):
        parse_options(load_settings(["--config", str(path)]).destinations["vision"])


def test_destination_names_are_checked(tmp_path):
    path = write_config(tmp_path, {"destinations": {"Vision Team": {"uri": "/x"}}})
    with pytest.raises(ValidationError, match="should match pattern"):
        load_settings(["--config", str(path)])


def test_routing_problems_are_all_reported(tmp_path):
    config = {
        "destinations": {"default": {"uri": "/a"}, "archive": {"uri": "/b"}},
        "routes": [
            {"experiments": ["7", "5-9"], "destination": "archive"},
            {"experiments": ["9-12"], "destination": "nowhere"},
        ],
        "default_destination": "elsewhere",
    }
    with pytest.raises(InvalidRouting) as raised:
        RoutingTable.from_settings(load_settings(["--config", str(write_config(tmp_path, config))]))
    assert raised.value.problems == [
        "destinations.default: the name is reserved for the destination given by "
        "--artifacts-destination",
        "routes[1]: unknown destination 'nowhere' (known: archive, default)",
        "experiments 5-9 (routes[0]) and 7 (routes[0]) overlap",
        "experiments 5-9 (routes[0]) and 9-12 (routes[1]) overlap",
        "default_destination: unknown destination 'elsewhere' (known: archive, default)",
    ]


@pytest.mark.parametrize("text", ["x", "7-", "-7", "9-3", "07", "1.5", ""])
def test_bad_experiment_ids_in_routes(text, tmp_path):
    config = {
        "destinations": {"a": {"uri": "/a"}},
        "routes": [{"experiments": [text], "destination": "a"}],
    }
    with pytest.raises(ValidationError, match=r"routes\.0\.experiments"):
        load_settings(["--config", str(write_config(tmp_path, config))])


def test_check_config_reports_every_problem_one_line_each(tmp_path):
    config = {
        "destinations": {
            "vision": {
                "uri": "s3://bucket-a",
                "access_key_id": "AKID",
                "secret_access_key_file": str(tmp_path / "missing-secret"),
            },
            "gopher": {"uri": "gopher://bucket/x"},
            "archive": {"uri": str(tmp_path / "archive")},
        },
        "routes": [
            {"experiments": ["7"], "destination": "vision"},
            {"experiments": ["2", "1-3"], "destination": "archive"},
            {"experiments": ["40"], "destination": "nlp"},
        ],
        "default_destination": "archive",
    }
    result = run_cli("check-config", "--config", str(write_config(tmp_path, config)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("artifact-gateway: error: ") for line in lines)
    assert len(lines) == 4, result.stderr
    for fragment in (
        "routes[2]: unknown destination 'nlp'",
        "experiments 1-3 (routes[1]) and 2 (routes[1]) overlap",
        "destinations.vision: cannot read secret file",
        "destinations.gopher: unsupported destination 'gopher://bucket/x'",
    ):
        assert sum(fragment in line for line in lines) == 1, fragment


def test_check_config_reaches_each_destination(seaweed, tmp_path):
    s3 = {"endpoint_url": seaweed.endpoint, "region": "us-east-1"}
    team_a = {"access_key_id": TEAM_A.access_key, "secret_access_key": TEAM_A.secret_key}
    config = {
        "destinations": {
            "vision": {"uri": "s3://bucket-a/ml", **s3, **team_a},
            "archive": {"uri": str(tmp_path / "archive")},
            "wrong-secret": {
                "uri": "s3://bucket-a/x",
                **s3,
                "access_key_id": TEAM_A.access_key,
                "secret_access_key": "not-the-secret-7f3e",
            },
            "no-bucket": {
                "uri": "s3://no-such-bucket-here",
                **s3,
                "access_key_id": ADMIN.access_key,
                "secret_access_key": ADMIN.secret_key,
            },
            "other-bucket": {"uri": "s3://bucket-b", **s3, **team_a},
            "unreachable": {
                "uri": "s3://bucket-a",
                **team_a,
                "endpoint_url": f"http://127.0.0.1:{free_port()}",
            },
        },
        "default_destination": "vision",
    }
    path = write_config(tmp_path, config)
    result = run_cli("check-config", "--config", str(path), "--s3.connect-timeout", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert sorted(line.split()[1] for line in result.stdout.splitlines()) == ["archive", "vision"]
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 4, result.stderr
    for name in ("wrong-secret", "no-bucket", "other-bucket", "unreachable"):
        assert sum(f"destination {name!r}" in line for line in problems) == 1, name
    for secret in (TEAM_A.secret_key, ADMIN.secret_key, "not-the-secret-7f3e"):
        assert secret not in result.stdout + result.stderr


def test_hash_password_reads_stdin_and_prints_a_verifiable_hash():
    result = run_cli("hash-password", stdin="s3cret with spaces \n")
    assert result.returncode == 0, result.stderr
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$") and "s3cret" not in encoded
    assert verify("s3cret with spaces ", encoded)
    assert run_cli("hash-password", stdin="\n").returncode == 2
    refused = run_cli("hash-password", "extra", stdin="x")
    assert refused.returncode == 2 and "takes only --token" in refused.stderr


def test_hash_password_for_a_token_prints_a_hash_with_its_lookup_id():
    token = "a-random-token-of-forty-three-characters-x"
    result = run_cli("hash-password", "--token", stdin=token + "\n")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    parsed = TokenHash.parse(result.stdout.strip())
    assert parsed.lookup == lookup_id(token) and parsed.matches(token)
    assert result.stdout.startswith("scrypt-t$") and token not in result.stdout
    short = run_cli("hash-password", "--token", stdin="short\n")
    assert short.returncode == 0 and "can be guessed" in short.stderr


def test_the_gateway_refuses_to_start_on_a_bad_routing_table(tmp_path):
    config = {"destinations": {"a": {"uri": str(tmp_path)}}, "default_destination": "b"}
    result = run_cli("--config", str(write_config(tmp_path, config)), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "artifact-gateway: error: default_destination: unknown destination 'b' (known: a, default)"
    )
