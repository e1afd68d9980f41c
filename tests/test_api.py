"""The artifact REST API over HTTP on both destinations: shapes, headers, status codes."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests

from tests.helpers.stack import Gateway
from tests.helpers.storage import stored_bytes


def put(http: requests.Session, gw: Gateway, path: str, data: bytes, **kw) -> requests.Response:
    return http.put(f"{gw.api}/{path}", data=data, timeout=60, **kw)


def assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in resp.text


def test_upload_then_download_round_trip(gateway, http, s3, exp):
    data = b"model bytes \x00\xff" * 1000
    resp = put(http, gateway, f"{exp}/run/artifacts/model.pkl", data)
    assert resp.status_code == 200 and resp.json() == {}
    got = http.get(f"{gateway.api}/{exp}/run/artifacts/model.pkl", timeout=60)
    assert got.status_code == 200 and got.content == data
    assert stored_bytes(gateway, s3, f"{exp}/run/artifacts/model.pkl") == data


def test_ajax_api_prefix_serves_the_same_artifacts(gateway, http, exp):
    put(http, gateway, f"{exp}/a.txt", b"ajax")
    ajax = gateway.api.replace("/api/2.0/", "/ajax-api/2.0/")
    assert http.get(f"{ajax}/{exp}/a.txt", timeout=30).content == b"ajax"
    assert http.get(ajax, params={"path": exp}, timeout=30).json()["files"][0]["path"] == "a.txt"
    assert http.put(f"{ajax}/{exp}/b.txt", data=b"b", timeout=30).status_code == 200
    assert http.delete(f"{ajax}/{exp}/b.txt", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MLmodel", "text/plain"),
        ("conda.yaml", "text/plain"),
        ("metrics.json", "text/plain"),
        ("image.png", "image/png"),
        ("weights.bin", "application/octet-stream"),
        ("page.html", "text/html"),
    ],
)
def test_download_headers_follow_mlflow(gateway, http, exp, name, expected):
    put(http, gateway, f"{exp}/{name}", b"<b>x</b>", headers={"Content-Type": "image/png"})
    resp = http.get(f"{gateway.api}/{exp}/{name}", headers={"Accept": "text/html"}, timeout=30)
    assert resp.headers["Content-Type"].split(";")[0] == expected
    assert resp.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Length"] == "8"
    assert resp.headers["ETag"].startswith('"') and resp.headers["Last-Modified"].endswith("GMT")


def test_non_ascii_file_name_gets_rfc5987_disposition(gateway, http, exp):
    put(http, gateway, f"{exp}/résumé.txt", b"r")
    resp = http.get(f"{gateway.api}/{exp}/résumé.txt", timeout=30)
    assert resp.content == b"r"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=resume.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
    )


def test_head_has_download_headers_and_no_body(gateway, http, exp):
    put(http, gateway, f"{exp}/f.csv", b"a,b\n1,2\n")
    head = http.head(f"{gateway.api}/{exp}/f.csv", timeout=30)
    get = http.get(f"{gateway.api}/{exp}/f.csv", timeout=30)
    assert head.status_code == 200 and head.content == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Content-Disposition"):
        assert head.headers[name] == get.headers[name]
    assert_error(
        http.get(f"{gateway.api}/{exp}/none.csv", timeout=30), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert http.head(f"{gateway.api}/{exp}/none.csv", timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-2", 206, b"89", "bytes 8-9/10"),
        ("bytes=0-99", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=10-", 416, None, "bytes */10"),
        ("bytes=99-100", 416, None, "bytes */10"),
        ("bytes=0-1,4-5", 200, b"0123456789", None),
        ("lines=1-2", 200, b"0123456789", None),
    ],
)
def test_single_range_requests(gateway, http, exp, header, status, body, content_range):
    put(http, gateway, f"{exp}/digits.txt", b"0123456789")
    resp = http.get(f"{gateway.api}/{exp}/digits.txt", headers={"Range": header}, timeout=30)
    assert resp.status_code == status
    assert resp.headers.get("Content-Range") == content_range
    if body is not None:
        assert resp.content == body
        assert resp.headers["Content-Length"] == str(len(body))
    else:
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_conditional_requests(gateway, http, exp):
    url = f"{gateway.api}/{exp}/c.txt"
    put(http, gateway, f"{exp}/c.txt", b"conditional")
    first = http.get(url, timeout=30)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert http.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    assert http.head(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    assert http.get(url, headers={"If-None-Match": '"other"'}, timeout=30).status_code == 200
    assert http.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 304
    assert http.get(url, headers={"If-Match": etag}, timeout=30).status_code == 200
    assert http.get(url, headers={"If-Match": '"other"'}, timeout=30).status_code == 412
    stale = {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    assert http.get(url, headers=stale, timeout=30).status_code == 412
    ranged = http.get(url, headers={"Range": "bytes=0-3", "If-Range": etag}, timeout=30)
    assert (ranged.status_code, ranged.content) == (206, b"cond")
    changed = http.get(url, headers={"Range": "bytes=0-3", "If-Range": '"old"'}, timeout=30)
    assert (changed.status_code, changed.content) == (200, b"conditional")


def test_listing_has_mlflow_shape(gateway, http, exp):
    for path in ("run/artifacts/b.txt", "run/artifacts/a.bin", "run/artifacts/sub/deep/c.txt"):
        put(http, gateway, f"{exp}/{path}", b"12345")
    resp = http.get(gateway.api, params={"path": f"{exp}/run/artifacts"}, timeout=30)
    assert resp.status_code == 200
    assert resp.json() == {
        "files": [
            {"path": "a.bin", "is_dir": False, "file_size": 5},
            {"path": "b.txt", "is_dir": False, "file_size": 5},
            {"path": "sub", "is_dir": True},
        ]
    }
    deep = http.get(gateway.api, params={"path": f"{exp}/run/artifacts/sub/"}, timeout=30).json()
    assert deep == {"files": [{"path": "deep", "is_dir": True}]}
    for empty in (f"{exp}/missing", f"{exp}/run/artifacts/b.txt"):
        assert http.get(gateway.api, params={"path": empty}, timeout=30).json() == {}
    root = http.get(gateway.api, timeout=30).json()["files"]
    assert {"path": exp, "is_dir": True} in root


def test_put_to_directory_path_is_rejected(gateway, http, exp):
    assert_error(put(http, gateway, f"{exp}/dir/", b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(put(http, gateway, "", b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert http.get(gateway.api, params={"path": exp}, timeout=30).json() == {}


def test_delete_file_and_directory(gateway, http, s3, exp):
    for path in ("r/artifacts/keep.txt", "r/artifacts/gone/a.txt", "r/artifacts/gone/x/y/b.txt"):
        put(http, gateway, f"{exp}/{path}", b"data")
    assert http.delete(f"{gateway.api}/{exp}/r/artifacts/gone", timeout=30).json() == {}
    listing = http.get(gateway.api, params={"path": f"{exp}/r/artifacts"}, timeout=30).json()
    assert listing == {"files": [{"path": "keep.txt", "is_dir": False, "file_size": 4}]}
    assert (
        http.get(gateway.api, params={"path": f"{exp}/r/artifacts/gone"}, timeout=30).json() == {}
    )
    assert stored_bytes(gateway, s3, f"{exp}/r/artifacts/gone/a.txt") is None
    assert http.delete(f"{gateway.api}/{exp}/r/artifacts/keep.txt", timeout=30).status_code == 200
    assert http.get(gateway.api, params={"path": exp}, timeout=30).json() == {}
    root = http.get(gateway.api, timeout=30).json().get("files", [])
    assert all(entry["path"] != exp for entry in root)
    assert http.delete(f"{gateway.api}/{exp}/never-existed", timeout=30).status_code == 200


def test_delete_of_destination_root_is_refused(gateway, http):
    assert_error(http.delete(f"{gateway.api}/", timeout=30), 400, "INVALID_PARAMETER_VALUE")


def test_overwrite_and_concurrent_uploads_leave_one_whole_body(gateway, http, s3, exp):
    # Above the 8 MiB part size: on S3 each is a multipart upload whose parts could interleave.
    bodies = [bytes([i]) * (9 * 1024 * 1024 + i) for i in range(6)]
    path = f"{exp}/race.bin"

    def upload(body: bytes) -> tuple[int, str]:
        with requests.Session() as session:
            resp = put(session, gateway, path, body)
            return resp.status_code, resp.text

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(upload, bodies))
    assert [status for status, _ in results] == [200] * 6, results
    final = http.get(f"{gateway.api}/{path}", timeout=60).content
    assert final in bodies
    assert stored_bytes(gateway, s3, path) == final


def test_unknown_routes_and_methods_answer_json(gateway, http):
    assert_error(http.get(f"{gateway.url}/no/such/route", timeout=30), 404, "ENDPOINT_NOT_FOUND")
    resp = http.post(f"{gateway.api}/x", timeout=30)
    assert resp.status_code == 405 and resp.json()["error_code"] == "BAD_REQUEST"


def test_health_and_version(gateway, http):
    assert http.get(f"{gateway.url}/health", timeout=30).text == "OK"
    from gateway import __version__

    assert http.get(f"{gateway.url}/version", timeout=30).text == __version__
