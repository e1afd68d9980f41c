"""No credential leaves the gateway: not in a response body or header, a log line, or CLI output.

Both team gateways log at debug level (botocore included), one as text and one as JSON, while
being driven through every outcome: success, 401, 403, 404, 400, 405 and 503 from refusing
destinations. Neither a secret nor a client's credential (any `Authorization` value sent)
appears in any line, nor in the metrics.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import requests

from tests.helpers.teams import ADMIN_USER, ALICE, BOB, CI, USERS, TeamsGateway

CREDENTIALS = [
    ADMIN_USER.headers(),
    ALICE.headers(),
    BOB.headers(),
    CI.headers(),
    ALICE.headers(password="wrong-password"),
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Basic %%%"},
    {},
]


def drive(session: requests.Session, gateway: TeamsGateway, experiments: list[str]) -> None:
    run = uuid.uuid4().hex
    for headers in CREDENTIALS:
        for experiment in experiments:
            target = f"{gateway.api}/{experiment}/{run}/artifacts/file.txt"
            for method in ("PUT", "GET", "HEAD", "DELETE"):
                session.request(method, target, data=b"x", headers=headers, timeout=60)
            session.get(gateway.api, params={"path": experiment}, headers=headers, timeout=60)
        session.get(gateway.api, params={"path": ""}, headers=headers, timeout=60)
        session.get(f"{gateway.api}/7/%2e%2e/%2e%2e/etc/passwd", headers=headers, timeout=60)
        session.get(f"{gateway.url}/api/2.0/mlflow/runs/get", headers=headers, timeout=60)
        session.post(f"{gateway.api}/7/x", headers=headers, timeout=60)
        for own in ("/ready", "/health", "/version", "/api/3.0/mlflow/server-info"):
            session.get(f"{gateway.url}{own}", headers=headers, timeout=60)


def cli(gateway: TeamsGateway, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", command, "--config", str(gateway.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=gateway.env,
        check=False,
    )


def test_no_secret_in_any_response_header_log_or_command_output(
    teams_gateway, refusing_teams_gateway
):
    responses: list[requests.Response] = []
    with requests.Session() as session:
        session.hooks["response"].append(
            lambda response, *args, **kwargs: responses.append(response)
        )
        drive(session, teams_gateway, ["7", "75", "5", "33", "2", "15"])
        drive(session, refusing_teams_gateway, ["7", "99", "50"])
    outputs = [
        cli(gateway, command)
        for gateway in (teams_gateway, refusing_teams_gateway)
        for command in ("routes", "check-config")
    ]

    seen = [f"{r.status_code} {r.headers} {r.text}" for r in responses]
    logs = [teams_gateway.process.log_text(), refusing_teams_gateway.process.log_text()]
    json_lines = [json.loads(line) for line in logs[1].splitlines() if line.strip()]
    decoded = [" ".join(map(str, line.values())) for line in json_lines]
    printed = [o.stdout + o.stderr for o in outputs]
    scraped = [requests.get(f"{g.url}/metrics", timeout=60).text for g in (teams_gateway,)]
    everything = "\n".join(seen + logs + decoded + printed + scraped)
    sent = [h["Authorization"] for h in CREDENTIALS if "Authorization" in h]
    plain = [p for user in USERS for p in (user.password, user.token) if p]
    for secret in [*teams_gateway.secrets(), *sent, *plain, "wrong-password"]:
        assert secret not in everything, f"a secret of length {len(secret)} leaked"
    # botocore logs its own request headers at debug level: the value is masked.
    logged = "\n".join(logs + decoded)
    assert "'Authorization': b'***'" in logged
    for header in re.finditer(r"Authorization['\"]?\s*[:=,]\s*", logged):
        value = logged[header.end() : header.end() + 8]
        assert value.removeprefix("b").lstrip("'\"").startswith("***"), value

    # The haystack really holds every kind of outcome and verbose backend logging.
    statuses = {r.status_code for r in responses}
    assert {200, 400, 401, 403, 404, 405, 503} <= statuses, statuses
    assert "botocore" in logs[0] and "SignatureDoesNotMatch" in "\n".join(seen)
    levels = {line["level"] for line in json_lines}
    assert {"debug", "info", "warning"} <= levels, levels
    assert any(line["logger"].startswith("botocore") for line in json_lines)
    accessed = [line for line in json_lines if line["logger"] == "gateway.access"]
    assert {401, 403, 503} <= {line["status"] for line in accessed}
    assert "gateway_auth_total" in scraped[0]
    assert any(r.url.endswith("/ready") and r.status_code == 503 for r in responses)
    assert [o.returncode for o in outputs] == [0, 0, 0, 1]
    assert "destination 'broken'" in outputs[3].stderr
