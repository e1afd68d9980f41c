"""Writes from another site's page are refused (CSRF), as MLflow 3.5+ refuses them; the
gateway's own pages, localhost, `--cors-allowed-origins` and non-browser clients go through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gateway.http.origins import CORS_BLOCKED, AllowedOrigins
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.upstreams import stopping

EVIL = {"Origin": "https://evil.example"}
PLAIN = {"Content-Type": "text/plain"}  # a "simple" request: a browser sends it unasked


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://localhost:3000", "gw:5500", True),
        ("http://127.0.0.1:5500", "gw:5500", True),
        ("http://[::1]:8080", "gw:5500", True),
        ("http://gw:5500", "gw:5500", True),  # the gateway's own UI
        ("HTTPS://GW:5500", "gw:5500", True),
        ("https://gw:5501", "gw:5500", False),
        ("https://evil.example", "gw:5500", False),
        ("https://localhost.evil.example", "gw:5500", False),
        ("null", "gw:5500", False),  # sandboxed frames, file:// pages
        ("https://team.corp.example", "gw:5500", True),
        ("https://x.apps.corp.example", "gw:5500", True),
        ("https://apps.corp.example.evil", "gw:5500", False),
        ("https://ml.corp.example", None, True),  # public_url's name
        ("http://[::1", "gw:5500", False),
    ],
)
def test_which_origins_may_write(origin, host, allowed):
    origins = AllowedOrigins(
        ["https://team.corp.example", "https://*.apps.corp.example"], own=["ml.corp.example"]
    )
    assert origins.allows(origin, host) is allowed


def test_a_star_lets_any_origin_write():
    assert AllowedOrigins(["*"]).allows("https://evil.example", "gw:5500")


@pytest.fixture(scope="module")
def allowing(tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("origins")
    root = workdir / "mlartifacts"
    args = ["--artifacts-destination", str(root), "--cors-allowed-origins", "https://ui.corp"]
    process, url = start_gateway(workdir, args, clean_env())
    with stopping(Gateway(process, url, "local", root=root)) as gateway:
        yield gateway


def test_cross_site_writes_are_refused_before_anything_is_stored(allowing, exp):
    api, target = allowing.api, f"{allowing.api}/{exp}/csrf.txt"
    mpu = f"{allowing.url}/api/2.0/mlflow-artifacts/mpu"
    writes = [
        ("PUT", target, b"planted"),
        ("DELETE", target, b""),
        ("POST", f"{mpu}/create/{exp}", b'{"path": "m.bin", "num_parts": 1}'),
        ("POST", f"{mpu}/abort/{exp}", b'{"path": "m.bin", "upload_id": "u"}'),
    ]
    for method, url, body in writes:
        resp = requests.request(method, url, data=body, headers=EVIL | PLAIN, timeout=30)
        assert resp.status_code == 403, (method, url, resp.text)
        assert resp.json()["error_code"] == "PERMISSION_DENIED"
        assert resp.json()["message"] == CORS_BLOCKED
    assert allowing.root is not None and not (allowing.root / exp).exists()
    # Reads are not writes; no Origin is not a browser; the allowed origin may write.
    assert requests.get(api, params={"path": exp}, headers=EVIL, timeout=30).status_code == 200
    requests.put(target, data=b"cli", timeout=30).raise_for_status()
    ui = {"Origin": "https://ui.corp"}
    requests.put(target, data=b"ui", headers=ui, timeout=30).raise_for_status()
    assert requests.get(target, headers=EVIL, timeout=30).content == b"ui"
    assert "Origin 'https://evil.example'" in allowing.process.log_text()
    requests.delete(f"{api}/{exp}", headers=ui, timeout=30).raise_for_status()
