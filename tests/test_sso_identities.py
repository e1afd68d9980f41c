"""Single sign-on identities through the gateway: OIDC bearer tokens and an authenticating proxy.

An OIDC issuer on 127.0.0.1 (tests/helpers/oidc_issuer.py: discovery and JWKS served by a small
aiohttp app, keys generated here) and a gateway with `auth.oidc` and `auth.proxy_headers`. Every
forged or broken token is a 401 that says why and reaches no store; the stock client's artifact
repository works with `MLFLOW_TRACKING_TOKEN`; proxy headers count from a trusted peer only, and
never reach the tracking server (here the echo upstream) from anyone else.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.oidc_issuer import AUDIENCE, Issuer, SigningKey, forged, serving_in_thread
from tests.helpers.processes import ManagedProcess, wait_until
from tests.helpers.stack import clean_env, start_gateway
from tests.helpers.upstreams import start_echo, stopping

pytestmark = pytest.mark.slow

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
RUN = uuid.uuid4().hex


@dataclass
class SsoGateway:
    url: str
    root: Path
    log: Path
    issuer: Issuer


def sso_config(issuer: Issuer, root: Path, tracking_uri: str | None, trusted: str) -> dict:
    users = {"ann": {"*": "READ", "7": "MANAGE"}, "flo": {"*": "EDIT"}}
    grants = {"users": users, "groups": {"ml": {"8": "EDIT"}}, "metrics": ["group:sre"]}
    return {
        "artifacts_destination": str(root),
        **({"tracking_uri": tracking_uri} if tracking_uri else {}),
        "trusted_proxies": [trusted],
        "metrics": {"require_permission": True},
        "auth": {
            "oidc": {
                "issuer": issuer.url,
                "audience": AUDIENCE,
                "groups_claim": "groups",
                "jwks_min_refetch_seconds": 1,
                "permissions": grants,
            },
            "proxy_headers": {"permissions": grants},
        },
    }


def start_sso_gateway(workdir: Path, config: dict, name: str) -> tuple[ManagedProcess, str]:
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return start_gateway(
        workdir, ["--config", str(path), "--log-level", "debug"], clean_env(), name
    )


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serving_in_thread(Issuer()) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(issuer, tmp_path_factory) -> Iterator[SsoGateway]:
    """Artifacts only: the token's checks are the gateway's alone (the auth app's module runs
    the whole client flow against a tracking server)."""
    workdir = tmp_path_factory.mktemp("sso-gateway")
    root = workdir / "artifacts"
    config = sso_config(issuer, root, None, "127.0.0.1/32")
    process, url = start_sso_gateway(workdir, config, "gateway")
    with stopping(_Running(process)):
        yield SsoGateway(url, root, workdir / "gateway.log", issuer)


@dataclass
class _Running:
    process: ManagedProcess


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_writes_and_reads_with_its_users_and_groups_permissions(gateway):
    issuer = gateway.issuer
    ann = bearer(issuer.token(issuer.claims("ann")))
    bo = bearer(issuer.token(issuer.claims("bo", groups=["ml"])))
    target = f"{gateway.url}{ARTIFACTS}/7/{RUN}/artifacts/ann.txt"
    assert requests.put(target, data=b"ann", headers=ann, timeout=60).status_code == 200
    assert requests.get(target, headers=ann, timeout=60).content == b"ann"
    assert requests.get(target, headers=bo, timeout=60).status_code == 403  # bo: only 8
    group_target = f"{gateway.url}{ARTIFACTS}/8/{RUN}/artifacts/bo.txt"
    assert requests.put(group_target, data=b"bo", headers=bo, timeout=60).status_code == 200
    assert wait_until(lambda: "source=oidc" in gateway.log.read_text(), timeout=10)
    assert " ann " in gateway.log.read_text()


def test_metrics_follow_the_grants_of_a_tokens_groups(gateway):
    issuer = gateway.issuer
    sre = bearer(issuer.token(issuer.claims("cy", groups=["sre"])))
    ann = bearer(issuer.token(issuer.claims("ann")))
    statuses = [requests.get(f"{gateway.url}/metrics", headers=h, timeout=60) for h in (sre, ann)]
    assert [s.status_code for s in statuses] == [200, 403]


def test_every_forged_or_broken_token_is_a_clear_401_and_reaches_no_store(gateway):
    tokens = forged(gateway.issuer)
    for why, token in tokens.items():
        path = f"7/{RUN}/artifacts/forged-{len(why)}.txt"
        response = requests.put(
            f"{gateway.url}{ARTIFACTS}/{path}", data=b"x", headers=bearer(token)
        )
        assert response.status_code == 401, (why, response.text)
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        challenge = [v for v in response.raw.headers.getlist("WWW-Authenticate") if "Bearer" in v]
        assert challenge and 'error="invalid_token"' in challenge[0], (why, challenge)
        assert why in challenge[0], (why, challenge)
        assert not (gateway.root / path).exists()
    info = f"{gateway.url}/api/3.0/mlflow/server-info"  # an Identified route: answered as anyone
    assert (
        requests.get(info, headers=bearer(tokens["token expired"]), timeout=60).status_code == 200
    )
    log = gateway.log.read_text()
    assert not [why for why, token in tokens.items() if token.split(".")[-1] and token in log]


def test_a_rotated_key_is_fetched_once_and_tokens_of_the_new_key_pass(gateway):
    issuer = gateway.issuer
    new = issuer.rotate(SigningKey.ec())
    time.sleep(1.1)  # jwks_min_refetch_seconds: 1, so an unknown kid may refetch now
    before = issuer.jwks_requests
    token = issuer.token(issuer.claims("ann"), key=new)
    target = f"{gateway.url}{ARTIFACTS}/7/{RUN}/artifacts/rotated.txt"
    answers = [requests.put(target, data=b"r", headers=bearer(token), timeout=60) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert issuer.jwks_requests - before == 1


def test_the_stock_clients_artifact_repository_with_a_token_multipart_included(
    gateway, tmp_path, monkeypatch
):
    """`MLFLOW_TRACKING_TOKEN` read by the stock client's own `mlflow-artifacts` repository,
    uploads through the proxied multipart routes."""
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    issuer = gateway.issuer
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gateway.url)
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing read from ~/.mlflow/credentials
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", issuer.token(issuer.claims("flo")))
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    host = gateway.url.removeprefix("http://")
    repo = MlflowArtifactsRepository(f"mlflow-artifacts://{host}/9/{RUN}/artifacts")
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    repo.log_artifact(str(source), "model")
    assert [f.path for f in repo.list_artifacts("model")] == ["model/model.bin"]
    (tmp_path / "back").mkdir()
    back = repo.download_artifacts("model/model.bin", dst_path=str(tmp_path / "back"))
    assert Path(back).read_bytes() == source.read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", issuer.token(issuer.claims("ann")))
    with pytest.raises(requests.HTTPError, match=r"403 .*PERMISSION_DENIED"):
        repo.log_artifact(str(source), "again")  # ann may only read experiment 9
    assert wait_until(lambda: "/mpu/complete/9/" in gateway.log.read_text(), timeout=10)
    assert " flo " in gateway.log.read_text()


PROXIED = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "ml", "X-Auth-Request-Email": "a@x"}


def test_proxy_headers_count_from_a_trusted_peer_only(gateway, issuer, tmp_path):
    target = f"{ARTIFACTS}/7/{RUN}/artifacts/proxied.txt"
    trusted = requests.put(f"{gateway.url}{target}", data=b"p", headers=PROXIED, timeout=60)
    assert trusted.status_code == 200
    line = re.compile(r' ann "PUT [^"]*/proxied\.txt" 200 .* source=proxy')
    assert wait_until(lambda: line.search(gateway.log.read_text()), timeout=10)
    echo = start_echo(tmp_path)
    with stopping(echo):
        config = sso_config(issuer, tmp_path / "artifacts", echo.url, "10.0.0.0/8")
        process, url = start_sso_gateway(tmp_path, config, "untrusting")
        with stopping(_Running(process)):
            refused = requests.put(f"{url}{target}", data=b"p", headers=PROXIED, timeout=60)
            passed = requests.get(
                f"{url}/api/2.0/mlflow/experiments/get?experiment_id=7",
                headers={**PROXIED, **bearer(issuer.token(issuer.claims("ann")))},
                timeout=60,
            )
    assert refused.status_code == 401  # the headers are ignored: the request is anonymous
    assert not (tmp_path / "artifacts" / "7").exists()
    assert passed.status_code == 200, passed.text
    seen = {name.lower() for name, _ in json.loads(passed.text)["headers"]}
    assert not seen & {h.lower() for h in PROXIED}, seen
