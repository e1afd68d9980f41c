"""Per-experiment destinations: the stock MLflow client's artifacts land in exactly one place.

Every S3 destination has keys valid for its own bucket only, and the gateway's environment
holds keys valid for no bucket, so a request signed with the wrong keys fails loudly.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.helpers.stack import BUCKET, NOBODY, TEAM_A, TEAM_BUCKETS, client_as
from tests.helpers.teams import ADMIN_USER, TEAM_B, TeamsGateway, login, repository

# experiment -> where its artifacts must land: (bucket or "archive", key prefix)
PLACES = {
    "7": ("bucket-a", "ml"),  # routed to vision
    "75": ("bucket-a", "ml"),  # in vision's range 70-79
    "5": ("bucket-a", "ml"),  # unrouted: default_destination vision
    "33": ("bucket-b", "nlp"),  # nlp, whose secret comes from the environment
    "2": ("archive", ""),  # local archive
    "15": ("archive", ""),  # in archive's range 10-20
}


def locations(gateway: TeamsGateway, s3, marker: str) -> list[tuple[str, str]]:
    """Every stored file whose key contains `marker`, in every bucket and the archive."""
    found = []
    for bucket in (BUCKET, *TEAM_BUCKETS):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found += [
                (bucket, obj["Key"])
                for obj in page.get("Contents", [])
                if marker in obj["Key"] and not obj["Key"].endswith("/")
            ]
    found += [
        ("archive", path.relative_to(gateway.archive).as_posix())
        for path in gateway.archive.rglob("*")
        if path.is_file() and marker in path.as_posix()
    ]
    return found


def admin_auth() -> tuple[str, str]:
    assert ADMIN_USER.password
    return (ADMIN_USER.name, ADMIN_USER.password)


def test_each_team_identity_is_confined_to_its_bucket(seaweed):
    """The premise of the routing tests: wrong keys for a bucket are refused, not ignored."""
    for identity, foreign in ((TEAM_A, "bucket-b"), (TEAM_B, "bucket-a"), (NOBODY, "bucket-a")):
        client = client_as(seaweed.endpoint, identity)
        with pytest.raises(ClientError, match="AccessDenied"):
            client.put_object(Bucket=foreign, Key="probe.txt", Body=b"x")
        with pytest.raises(ClientError, match="AccessDenied"):
            client.list_objects_v2(Bucket=BUCKET)


@pytest.mark.parametrize("kind", ["mlflow-artifacts", "http"])
@pytest.mark.parametrize("experiment", sorted(PLACES))
def test_stock_client_logs_each_experiment_to_its_destination(
    teams_gateway, s3, monkeypatch, tmp_path, experiment, kind
):
    login(monkeypatch, teams_gateway, ADMIN_USER)
    run = uuid.uuid4().hex
    root = f"{experiment}/{run}/artifacts"
    repo = repository(kind, teams_gateway, root)
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(200_000))
    repo.log_artifact(str(source), "model")

    place, prefix = PLACES[experiment]
    key = "/".join(part for part in (prefix, root, "model/weights.bin") if part)
    assert locations(teams_gateway, s3, run) == [(place, key)]
    assert [f.path for f in repo.list_artifacts("model")] == ["model/weights.bin"]
    (tmp_path / "out").mkdir()
    downloaded = repo.download_artifacts("model/weights.bin", dst_path=str(tmp_path / "out"))
    assert Path(downloaded).read_bytes() == source.read_bytes()
    repo.delete_artifacts()
    assert locations(teams_gateway, s3, run) == []


def test_root_listing_merges_destinations_and_follows_the_routes(teams_gateway, s3, http):
    run = uuid.uuid4().hex
    for experiment in ("19", "31", "71"):  # archive, nlp, vision
        target = f"{teams_gateway.api}/{experiment}/{run}/artifacts/a.txt"
        assert http.put(target, data=b"a", auth=admin_auth(), timeout=30).status_code == 200
    # Behind the gateway's back, in vision's bucket, an experiment that is routed to nlp.
    s3.put_object(Bucket="bucket-a", Key="ml/36/stray/artifacts/x.txt", Body=b"stray")

    listing = http.get(teams_gateway.api, params={"path": ""}, auth=admin_auth(), timeout=30)
    assert listing.status_code == 200, listing.text
    files = listing.json()["files"]
    names = [f["path"] for f in files]
    assert {"19", "31", "71"} <= set(names) and "36" not in names
    assert names == sorted(set(names)) and all(f["is_dir"] for f in files if f["path"] in names)
    stray = http.get(f"{teams_gateway.api}/36/stray/artifacts/x.txt", auth=admin_auth(), timeout=30)
    assert stray.status_code == 404 and stray.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    ("experiment", "destination"),
    [("99", "s3://bucket-a/broken"), ("50", "s3://bucket-a/env")],
    ids=["wrong-secret", "environment-keys"],
)
def test_refusing_destination_fails_cleanly_and_alone(
    refusing_teams_gateway, http, experiment, destination
):
    gateway = refusing_teams_gateway
    path = f"{gateway.api}/{experiment}/{uuid.uuid4().hex}/artifacts/a.txt"
    for method, body in (("PUT", b"data"), ("GET", None), ("DELETE", None)):
        response = http.request(method, path, data=body, auth=admin_auth(), timeout=60)
        assert response.status_code == 503, (method, response.text)
        error = response.json()
        assert error["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert f"Destination {destination} refused the request" in error["message"]
        for secret in gateway.secrets():
            assert secret not in response.text and secret not in str(response.headers)
    listing = http.get(gateway.api, params={"path": ""}, auth=admin_auth(), timeout=60)
    assert listing.status_code == 503  # a root listing that silently left a destination out
    healthy = f"{gateway.api}/7/{uuid.uuid4().hex}/artifacts/a.txt"
    assert http.put(healthy, data=b"ok", auth=admin_auth(), timeout=30).status_code == 200
    assert http.get(healthy, auth=admin_auth(), timeout=30).content == b"ok"
