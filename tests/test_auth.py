"""Client authentication and per-experiment permissions, with raw requests and the stock client.

Users (tests/helpers/teams.py): admin MANAGE everywhere; alice EDIT on 7, READ elsewhere; bob
MANAGE on 2 and nothing else; reader READ everywhere; ci a token with READ on 2 only.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from tests.helpers.teams import (
    ADMIN_USER,
    ALICE,
    BOB,
    CI,
    READER,
    TeamsGateway,
    User,
    login,
    repository,
)

MALLORY = User("mallory", {}, password="mallory-pass-1f2e3d4c")
SEEDED = "seed/artifacts/a.txt"


@pytest.fixture(scope="module")
def seeded(teams_gateway: TeamsGateway) -> TeamsGateway:
    """One file in experiments 7 (vision), 33 (nlp) and 2 (archive), put there by admin."""
    for experiment in ("7", "33", "2"):
        response = requests.put(
            f"{teams_gateway.api}/{experiment}/{SEEDED}",
            data=f"seed {experiment}".encode(),
            headers=ADMIN_USER.headers(),
            timeout=30,
        )
        assert response.status_code == 200, response.text
    return teams_gateway


def call(gateway: TeamsGateway, headers: dict, method: str, experiment: str) -> requests.Response:
    """One artifact request of kind `method` (LIST for a listing) on `experiment`."""
    if method == "LIST":
        params = {"path": f"{experiment}/seed/artifacts" if experiment else ""}
        return requests.get(gateway.api, params=params, headers=headers, timeout=30)
    target = f"{gateway.api}/{experiment}/{SEEDED}"
    if method in ("PUT", "DELETE"):  # never disturb the seeded file
        target = f"{gateway.api}/{experiment}/{uuid.uuid4().hex}/artifacts/b.txt"
    return requests.request(
        method, target, data=b"b" if method == "PUT" else None, headers=headers, timeout=30
    )


ANONYMOUS: dict[str, str] = {}
UNAUTHENTICATED = [
    ("anonymous get", ANONYMOUS, "GET"),
    ("anonymous head", ANONYMOUS, "HEAD"),
    ("anonymous put", ANONYMOUS, "PUT"),
    ("anonymous delete", ANONYMOUS, "DELETE"),
    ("anonymous list", ANONYMOUS, "LIST"),
    ("wrong password", ALICE.headers(password="not-alices-password"), "GET"),
    ("unknown user", MALLORY.headers(), "GET"),
    ("password sent as token", {"Authorization": f"Bearer {ALICE.password}"}, "GET"),
    ("token sent as password", User("ci", {}, password=CI.token).headers(), "GET"),
    ("wrong token", {"Authorization": "Bearer not-a-known-token"}, "GET"),
    ("empty bearer", {"Authorization": "Bearer "}, "GET"),
    ("malformed basic", {"Authorization": "Basic !!not-base64!!"}, "GET"),
    ("basic without colon", {"Authorization": "Basic YWxpY2U="}, "GET"),
    ("unknown scheme", {"Authorization": "Digest username=alice"}, "GET"),
    ("bytes that are not UTF-8", {"Authorization": "Bearer \xff\xfe"}, "GET"),
]


@pytest.mark.parametrize(("case", "headers", "method"), UNAUTHENTICATED, ids=lambda v: v)
def test_no_valid_credentials_is_401_with_a_challenge(seeded, case, headers, method):
    response = call(seeded, headers, method, "7")
    assert response.status_code == 401, response.text
    challenges = response.raw.headers.getlist("WWW-Authenticate")
    assert challenges == [
        'Basic realm="mlflow-artifact-gateway"',
        'Bearer realm="mlflow-artifact-gateway"',
    ]
    if method != "HEAD":
        assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_root_listing_needs_credentials_too(seeded):
    response = call(seeded, ANONYMOUS, "LIST", "")
    assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHENTICATED"


ALLOWED, DENIED = 200, 403
MATRIX = [
    (READER, "GET", "7", ALLOWED),
    (READER, "HEAD", "33", ALLOWED),
    (READER, "LIST", "2", ALLOWED),
    (READER, "PUT", "7", DENIED),  # READ user writing
    (READER, "DELETE", "7", DENIED),
    (ALICE, "PUT", "7", ALLOWED),  # EDIT on her experiment
    (ALICE, "DELETE", "7", DENIED),  # EDIT user deleting
    (ALICE, "GET", "33", ALLOWED),  # READ elsewhere through '*'
    (ALICE, "PUT", "75", DENIED),
    (ALICE, "PUT", "2", DENIED),
    (BOB, "GET", "2", ALLOWED),
    (BOB, "PUT", "2", ALLOWED),
    (BOB, "DELETE", "2", ALLOWED),
    (BOB, "GET", "7", DENIED),  # user of one experiment reading another
    (BOB, "LIST", "33", DENIED),
    (BOB, "HEAD", "7", DENIED),
    (CI, "GET", "2", ALLOWED),  # token user
    (CI, "LIST", "2", ALLOWED),
    (CI, "PUT", "2", DENIED),
    (CI, "GET", "7", DENIED),
    (ADMIN_USER, "DELETE", "7", ALLOWED),
    (ADMIN_USER, "PUT", "33", ALLOWED),
]


@pytest.mark.parametrize(
    ("user", "method", "experiment", "status"),
    MATRIX,
    ids=[f"{u.name}-{m}-{e}-{s}" for u, m, e, s in MATRIX],
)
def test_permission_matrix(seeded, user, method, experiment, status):
    response = call(seeded, user.headers(), method, experiment)
    assert response.status_code == status, response.text
    if status == DENIED and method != "HEAD":
        error = response.json()
        assert error["error_code"] == "PERMISSION_DENIED"
        assert f"User {user.name!r}" in error["message"] and repr(experiment) in error["message"]
    if method == "GET" and status == ALLOWED:
        assert response.content == f"seed {experiment}".encode()


def test_refused_upload_leaves_nothing(seeded):
    target = f"{seeded.api}/7/{uuid.uuid4().hex}/artifacts/refused.txt"
    assert requests.put(target, data=b"x", headers=READER.headers(), timeout=30).status_code == 403
    assert requests.get(target, headers=ADMIN_USER.headers(), timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("user", "visible"),
    [(ADMIN_USER, {"7", "33", "2"}), (BOB, {"2"}), (CI, {"2"})],
    ids=["admin", "bob", "ci"],
)
def test_root_listing_shows_only_readable_experiments(seeded, user, visible):
    response = call(seeded, user.headers(), "LIST", "")
    assert response.status_code == 200, response.text
    names = {entry["path"] for entry in response.json().get("files", [])}
    assert visible <= names
    if user is not ADMIN_USER:
        assert names == visible


@pytest.mark.parametrize("kind", ["mlflow-artifacts", "http"])
def test_stock_client_with_username_and_password(seeded, monkeypatch, tmp_path, kind):
    login(monkeypatch, seeded, ALICE)
    source = tmp_path / "metrics.json"
    source.write_text('{"acc": 0.9}')
    own = repository(kind, seeded, f"7/{uuid.uuid4().hex}/artifacts")
    own.log_artifact(str(source))
    assert [f.path for f in own.list_artifacts()] == ["metrics.json"]
    with pytest.raises(requests.HTTPError, match=r"403 .*PERMISSION_DENIED"):
        own.delete_artifacts()
    other = repository(kind, seeded, f"75/{uuid.uuid4().hex}/artifacts")
    with pytest.raises(requests.HTTPError, match=r"403 .*PERMISSION_DENIED"):
        other.log_artifact(str(source))
    readable = repository(kind, seeded, "33/seed/artifacts")
    assert readable.download_artifacts("a.txt", dst_path=str(tmp_path))


@pytest.mark.parametrize("kind", ["mlflow-artifacts", "http"])
def test_stock_client_with_a_token(seeded, monkeypatch, tmp_path, kind):
    login(monkeypatch, seeded, CI)
    repo = repository(kind, seeded, "2/seed/artifacts")
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]
    downloaded = repo.download_artifacts("a.txt", dst_path=str(tmp_path))
    assert Path(downloaded).read_bytes() == b"seed 2"
    source = tmp_path / "out.txt"
    source.write_text("x")
    with pytest.raises(requests.HTTPError, match=r"403 .*PERMISSION_DENIED"):
        repo.log_artifact(str(source))
    with pytest.raises(requests.HTTPError, match=r"403 .*PERMISSION_DENIED"):
        repository(kind, seeded, "7/seed/artifacts").list_artifacts()


@pytest.mark.parametrize(
    "user",
    [User("nobody", {}), User("alice", {}, password="wrong-password")],
    ids=["anonymous", "wrong-password"],
)
def test_stock_client_without_valid_credentials(seeded, monkeypatch, tmp_path, user):
    login(monkeypatch, seeded, user)
    repo = repository("mlflow-artifacts", seeded, "7/seed/artifacts")
    with pytest.raises(requests.HTTPError, match=r"401 .*UNAUTHENTICATED"):
        repo.list_artifacts()
    with pytest.raises(requests.HTTPError, match=r"401 .*UNAUTHENTICATED"):
        repo.download_artifacts("a.txt", dst_path=str(tmp_path))


def test_health_and_version_stay_open(seeded):
    assert requests.get(f"{seeded.url}/health", timeout=30).text == "OK"
    assert requests.get(f"{seeded.url}/version", timeout=30).status_code == 200


def test_multipart_and_presigned_routes_need_the_same_permissions(seeded):
    """Creating, completing and aborting need EDIT; link requests need READ; the links
    themselves are authorised by their signature alone (clients send no credentials)."""
    base = seeded.api.removesuffix("/artifacts")
    run = uuid.uuid4().hex

    def create(headers: dict, experiment: str) -> requests.Response:
        body = {"path": "part.bin", "num_parts": 1}
        url = f"{base}/mpu/create/{experiment}/{run}/artifacts"
        return requests.post(url, json=body, headers=headers, timeout=30)

    assert create({}, "7").status_code == 401
    assert create(READER.headers(), "7").status_code == 403
    assert create(ALICE.headers(), "33").status_code == 403
    created = create(ALICE.headers(), "7")
    assert created.status_code == 200, created.text
    upload_id = created.json()["upload_id"]
    (credential,) = created.json()["credentials"]
    part = requests.put(credential["url"], data=b"signed part", timeout=30)
    assert part.status_code == 200, part.text
    done = {"path": "part.bin", "upload_id": upload_id}
    parts = [{"part_number": 1, "etag": part.headers["ETag"]}]
    target = f"{base}/mpu/complete/7/{run}/artifacts"
    refused = requests.post(
        target, json=done | {"parts": parts}, headers=READER.headers(), timeout=30
    )
    assert refused.status_code == 403
    abort = f"{base}/mpu/abort/7/{run}/artifacts"
    assert requests.post(abort, json=done, headers=BOB.headers(), timeout=30).status_code == 403
    completed = requests.post(
        target, json=done | {"parts": parts}, headers=ALICE.headers(), timeout=30
    )
    assert completed.status_code == 200, completed.text

    presigned = f"{base}/presigned/7/{run}/artifacts/part.bin"
    assert requests.get(presigned, timeout=30).status_code == 401
    assert requests.get(presigned, headers=CI.headers(), timeout=30).status_code == 403
    link = requests.get(presigned, headers=READER.headers(), timeout=30)
    assert link.status_code == 200, link.text
    assert requests.get(link.json()["url"], timeout=30).content == b"signed part"
