"""A destination's role assumed for real: SeaweedFS serves STS (`AssumeRole`,
`AssumeRoleWithWebIdentity`) when given an advanced IAM config (`-s3.iam.config`) with a signing
key, an OIDC provider (the local issuer of tests/helpers/oidc_issuer.py) and a role. The gateway
reaches the bucket only with the temporary credentials: the web-identity destination has no
keys at all, the assume-role destination's own keys may not touch the bucket.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from botocore.exceptions import ClientError

from tests.helpers.oidc_issuer import AUDIENCE, Issuer, SigningKey, serving_in_thread
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import ADMIN, NOBODY, admin_client, clean_env, client_as, start_gateway

pytestmark = pytest.mark.slow  # its own SeaweedFS (STS needs an IAM config), a gateway

BUCKET = "sts-bucket"
ROLE = "arn:aws:iam::000000000000:role/gateway"  # SeaweedFS wants AWS's ARN form
API = "/api/2.0/mlflow-artifacts/artifacts"


def _iam_config(issuer: Issuer) -> dict:
    everything = {"Effect": "Allow", "Action": ["s3:*", "sts:ValidateSession"], "Resource": ["*"]}
    trust = [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "local-oidc"},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
        },
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole"]},
    ]
    return {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": "seaweedfs-sts",
            "signingKey": base64.b64encode(os.urandom(32)).decode(),
        },
        "providers": [
            {
                "name": "local-oidc",
                "type": "oidc",
                "enabled": True,
                "config": {
                    "issuer": issuer.url,
                    "clientId": AUDIENCE,
                    "jwksUri": f"{issuer.url}/jwks",
                },
            }
        ],
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {
                "roleName": "gateway",
                "roleArn": ROLE,
                "trustPolicy": {"Version": "2012-10-17", "Statement": trust},
                "attachedPolicies": ["everything"],
            }
        ],
        "policies": [
            {"name": "everything", "document": {"Version": "2012-10-17", "Statement": [everything]}}
        ],
    }


@pytest.fixture(scope="module")
def sts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, SeaweedFS's endpoint)."""
    workdir: Path = tmp_path_factory.mktemp("sts")
    with serving_in_thread(Issuer()) as issuer:
        (workdir / "iam.json").write_text(json.dumps(_iam_config(issuer)))
        seaweed = SeaweedS3(workdir / "seaweed", [ADMIN, NOBODY])
        seaweed.argv.append(f"-s3.iam.config={workdir / 'iam.json'}")
        seaweed.start()
        try:
            admin_client(seaweed.endpoint).create_bucket(Bucket=BUCKET)
            token = workdir / "token"
            claims = issuer.claims("system:serviceaccount:ml:gateway")
            token.write_text(issuer.token(claims))
            forged = workdir / "forged-token"  # signed by a key the issuer never published
            forged.write_text(issuer.token(claims, SigningKey.rsa()))
            s3 = {"endpoint_url": seaweed.endpoint, "region": "us-east-1", "role_arn": ROLE}
            s3["sts_endpoint_url"] = seaweed.endpoint
            config = {
                "destinations": {
                    "irsa": {
                        "uri": f"s3://{BUCKET}/irsa",
                        **s3,
                        "web_identity_token_file": str(token),
                    },
                    "assumed": {
                        "uri": f"s3://{BUCKET}/assumed",
                        **s3,
                        "access_key_id": NOBODY.access_key,
                        "secret_access_key": NOBODY.secret_key,
                        "external_id": "ext-7",
                        "duration_seconds": 900,
                    },
                    "forged": {
                        "uri": f"s3://{BUCKET}/forged",
                        **s3,
                        "web_identity_token_file": str(forged),
                    },
                },
                "routes": [
                    {"experiments": ["2"], "destination": "assumed"},
                    {"experiments": ["3"], "destination": "forged"},
                ],
                "default_destination": "irsa",
            }
            (workdir / "gateway.yaml").write_text(yaml.safe_dump(config))
            args = ["--config", str(workdir / "gateway.yaml")]
            env = clean_env(AWS_EC2_METADATA_DISABLED="true")  # no keys in the environment
            process, url = start_gateway(workdir, args, env)
            try:
                yield url, seaweed.endpoint
            finally:
                process.stop()
        finally:
            seaweed.stop()


@pytest.mark.parametrize(("exp", "prefix"), [("1", "irsa"), ("2", "assumed")])
def test_the_role_is_assumed_for_real(sts: tuple[str, str], exp: str, prefix: str) -> None:
    url, endpoint = sts
    data = os.urandom(2000)
    target = f"{url}{API}/{exp}/run/artifacts/w.bin"
    assert requests.put(target, data=data, timeout=60).status_code == 200
    assert requests.get(target, timeout=60).content == data
    stored = admin_client(endpoint).get_object(
        Bucket=BUCKET, Key=f"{prefix}/{exp}/run/artifacts/w.bin"
    )
    assert stored["Body"].read() == data


def test_the_source_keys_alone_cannot_touch_the_bucket(sts: tuple[str, str]) -> None:
    """The control: what the assume-role destination stored, its own keys could not have."""
    _, endpoint = sts
    with pytest.raises(ClientError, match="AccessDenied"):
        client_as(endpoint, NOBODY).put_object(Bucket=BUCKET, Key="assumed/x", Body=b"x")


def test_a_token_sts_refuses_gets_no_credentials(sts: tuple[str, str]) -> None:
    """STS checks the token against the issuer's keys: a forged one stores nothing."""
    url, endpoint = sts
    resp = requests.put(f"{url}{API}/3/run/artifacts/w.bin", data=b"x", timeout=60)
    assert resp.status_code == 503, resp.text
    listed = admin_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix="forged/")
    assert listed["KeyCount"] == 0
