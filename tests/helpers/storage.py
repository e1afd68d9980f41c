"""What a destination really holds, read behind the gateway's back, and calls that touch it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers.stack import BUCKET, Gateway, admin_client

MIB = 1024 * 1024


def stored_bytes(gw: Gateway, s3_client, path: str) -> bytes | None:
    """What the destination itself holds at `path`, read behind the gateway's back."""
    if gw.destination == "local":
        assert gw.root is not None
        file = gw.root / path
        return file.read_bytes() if file.is_file() else None
    try:
        return s3_client.get_object(Bucket=BUCKET, Key=gw.key(path))["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None


def pending_uploads(s3_client) -> list[dict]:
    return s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def assert_no_pending_uploads(request: pytest.FixtureRequest) -> None:
    """The shared bucket holds no multipart upload, checked only if the test used SeaweedFS
    (statically or through `getfixturevalue`), so a pure test never starts a server for it.

    Called at teardown, it asks only for fixtures already active: pytest 9.1 deprecates
    requesting a new one then (its `dynamic-fixture-request-during-teardown`)."""
    active = request.fixturenames
    if "seaweed" not in active:
        return
    if "s3" in active:
        client = request.getfixturevalue("s3")
    else:
        client = admin_client(request.getfixturevalue("seaweed").endpoint)
    assert pending_uploads(client) == []


def leftovers(gw: Gateway, s3, path: str) -> list[str]:
    """What an abandoned transfer left at `path`: files, temporaries, uploads, objects."""
    if gw.destination == "local":
        assert gw.root is not None
        experiment_dir = gw.root / path.split("/")[0]
        try:  # files, temp files and the directories the upload created
            return [str(p) for p in experiment_dir.rglob("*")] + (
                [str(experiment_dir)] if experiment_dir.exists() else []
            )
        except FileNotFoundError:
            return ["(being removed)"]
    found = [u["Key"] for u in pending_uploads(s3) if u["Key"].startswith(gw.key(path))]
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=gw.key(path)).get("Contents", [])
    return found + [o["Key"] for o in objects]


def every_kind_of_call(api: str) -> list[tuple[tuple, requests.Response]]:
    """Read, stat, small and multipart write, delete and list, each once, with its answer.

    Sent at once: against a refusing destination each waits out the retries (seconds)."""
    calls = [
        ("GET", f"{api}/1/a.txt", None),
        ("HEAD", f"{api}/1/a.txt", None),
        ("PUT", f"{api}/1/a.txt", b"data"),
        ("PUT", f"{api}/1/big.bin", b"b" * (9 * MIB)),
        ("DELETE", f"{api}/1/a.txt", None),
        ("GET", f"{api}?path=1", None),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        sent = pool.map(lambda c: requests.request(c[0], c[1], data=c[2], timeout=120), calls)
        return list(zip(calls, sent, strict=True))
