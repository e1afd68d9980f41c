"""One real request per kind of route, for the route-table test (tests/test_route_rules.py).

A kind is named by the end of the route's path. Preparation (an upload to complete, a link to
use, a file to delete) is done as the owner, before the test looks at the destination; the
request itself is then sent with each case's credentials.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from gateway.http.guard import Artifact, Identified, Open, Rule, Signed, Tracking
from tests.helpers.guarded import OWNER, SEED, Guarded


@dataclass
class Prepared:
    url: str
    params: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    json: Any = None

    def send(self, method: str, headers: dict[str, str]) -> requests.Response:
        return requests.request(
            method,
            self.url,
            params=self.params,
            data=self.data,
            json=self.json,
            headers=headers,
            timeout=30,
        )


Prepare = Callable[[Guarded, str, str, str], Prepared]  # (gateway, method, route path, case)


def _target(g: Guarded, route: str, **values: str) -> str:
    return g.url + route.format(**values)


def _prefix(route: str) -> str:
    """`/api/2.0` or `/ajax-api/2.0`: the route's half of the artifact namespace."""
    return route.split("/mlflow-artifacts/", 1)[0]


def _run_dir() -> str:
    return f"7/r-{uuid.uuid4().hex}/artifacts"


def listing(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route), params={"path": "7/gw-7/artifacts"})


def artifact(g: Guarded, method: str, route: str, case: str) -> Prepared:
    if method in ("GET", "HEAD"):
        return Prepared(_target(g, route, path=SEED))
    path = f"{_run_dir()}/f.txt"
    if method == "DELETE":
        victim = g.root / path
        victim.parent.mkdir(parents=True)
        victim.write_bytes(b"to be deleted")
        return Prepared(_target(g, route, path=path))
    return Prepared(_target(g, route, path=path), data=b"put by a test")


def _created(g: Guarded, route: str) -> tuple[str, dict]:
    directory = _run_dir()
    created = requests.post(
        f"{g.url}{_prefix(route)}/mlflow-artifacts/mpu/create/{directory}",
        json={"path": "f.bin", "num_parts": 1},
        headers=OWNER.headers(),
        timeout=30,
    )
    created.raise_for_status()
    return directory, created.json()


def mpu_create(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route, path=_run_dir()), json={"path": "f.bin", "num_parts": 1})


def mpu_complete(g: Guarded, method: str, route: str, case: str) -> Prepared:
    directory, created = _created(g, route)
    part = requests.put(created["credentials"][0]["url"], data=b"one part", timeout=30)
    part.raise_for_status()
    parts = [{"part_number": 1, "etag": part.headers["ETag"]}]
    body = {"path": "f.bin", "upload_id": created["upload_id"], "parts": parts}
    return Prepared(_target(g, route, path=directory), json=body)


def mpu_abort(g: Guarded, method: str, route: str, case: str) -> Prepared:
    directory, created = _created(g, route)
    body = {"path": "f.bin", "upload_id": created["upload_id"]}
    return Prepared(_target(g, route, path=directory), json=body)


def _as_case(url: str, route: str, case: str) -> str:
    """The owner uses the link as signed; the others one without a signature, with a forged
    one, or with a real signature that was made for another expiry."""
    url = url.replace("/api/2.0/mlflow-artifacts/", f"{_prefix(route)}/mlflow-artifacts/", 1)
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    if case == "anonymous":
        del query["signature"]
    elif case == "wrong":
        query["signature"] = "0" * 64
    elif case in ("stranger", "neighbour"):
        query["expires"] = str(int(query["expires"]) + 1)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def part_link(g: Guarded, method: str, route: str, case: str) -> Prepared:
    _, created = _created(g, route)
    return Prepared(_as_case(created["credentials"][0]["url"], route, case), data=b"one part")


def presigned(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route, path=SEED))


def signed_download(g: Guarded, method: str, route: str, case: str) -> Prepared:
    link = requests.get(
        f"{g.url}{_prefix(route)}/mlflow-artifacts/presigned/{SEED}",
        headers=OWNER.headers(),
        timeout=30,
    )
    link.raise_for_status()
    return Prepared(_as_case(link.json()["url"], route, case))


def plain(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route))


def run_listing(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route), params={"run_id": "gw-7"})


def model_listing(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route, model_id="gw-7"))


def run_file(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route), params={"run_id": "gw-7", "path": "a.txt"})


def version_file(g: Guarded, method: str, route: str, case: str) -> Prepared:
    params = {"name": "gw-7", "version": "1", "path": "a.txt"}
    return Prepared(_target(g, route), params=params)


def model_file(g: Guarded, method: str, route: str, case: str) -> Prepared:
    params = {"artifact_file_path": "a.txt"}
    return Prepared(_target(g, route, model_id="gw-7"), params=params)


def ui_upload(g: Guarded, method: str, route: str, case: str) -> Prepared:
    params = {"run_uuid": "gw-7", "path": f"ui-{uuid.uuid4().hex}.txt"}
    return Prepared(_target(g, route), params=params, data=b"from the UI")


def trace_file(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route), params={"request_id": "gw-7"})


def presigned_url(g: Guarded, method: str, route: str, case: str) -> Prepared:
    return Prepared(_target(g, route), json={"run_id": "gw-7", "path": "a.txt"})


# (end of the route's path, the rule it must have, how to call it)
EXERCISES: list[tuple[str, type[Rule], Prepare]] = [
    ("/mlflow-artifacts/artifacts", Artifact, listing),
    ("/mlflow-artifacts/artifacts/{path}", Artifact, artifact),
    ("/mlflow-artifacts/mpu/create/{path}", Artifact, mpu_create),
    ("/mlflow-artifacts/mpu/complete/{path}", Artifact, mpu_complete),
    ("/mlflow-artifacts/mpu/abort/{path}", Artifact, mpu_abort),
    ("/mlflow-artifacts/mpu/part/{path}", Signed, part_link),
    ("/mlflow-artifacts/presigned/{path}", Artifact, presigned),
    ("/mlflow-artifacts/signed/{path}", Signed, signed_download),
    ("/health", Open, plain),
    ("/ready", Identified, plain),
    ("/version", Open, plain),
    ("/openapi.json", Open, plain),
    ("/metrics", Open, plain),
    ("/3.0/mlflow/server-info", Identified, plain),
    ("/mlflow/artifacts/list", Tracking, run_listing),
    ("/logged-models/{model_id}/artifacts/directories", Tracking, model_listing),
    ("/get-artifact", Tracking, run_file),
    ("/model-versions/get-artifact", Tracking, version_file),
    ("/logged-models/{model_id}/artifacts/files", Tracking, model_file),
    ("/upload-artifact", Tracking, ui_upload),
    ("/mlflow/get-trace-artifact", Tracking, trace_file),
    ("/artifacts/presigned-upload-url", Tracking, presigned_url),
    ("/artifacts/presigned-download-url", Tracking, presigned_url),
]


def exercise_for(route: str) -> tuple[type[Rule], Prepare] | None:
    """The exercise whose path ending is the longest one `route` ends with."""
    found = [(len(end), rule, prepare) for end, rule, prepare in EXERCISES if route.endswith(end)]
    return max(found, key=lambda item: item[0])[1:] if found else None
