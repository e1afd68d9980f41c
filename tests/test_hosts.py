"""The Host check against DNS rebinding (`--allowed-hosts`, as MLflow 3.5+), and whose
forwarding headers decide the host of the links the gateway hands out."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
import requests

from gateway.http.hosts import INVALID_HOST, AllowedHosts, own_names
from tests.helpers.processes import free_port
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.upstreams import stopping

DENIED = {"sqlstate": "KAM00", "error_class": "PERMISSION_DENIED"}  # MLflow 3.18's, for the code

FOREIGN = {"Host": "rebound.attacker.example:5500"}


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5500",
        "127.0.0.1:1",
        "127.0.0.1",
        "[::1]:5500",
        "0.0.0.0:80",
        "10.1.2.3:5500",
        "172.16.0.9",
        "192.168.1.20:443",
        "[fd00::7]:5500",
        "LOCALHOST:5500",
    ],
)
def test_by_default_localhost_and_private_addresses_are_allowed(host):
    assert AllowedHosts(None).allows(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "rebound.attacker.example",
        "10.attacker.example:5500",  # MLflow's 10.* pattern lets this one in
        "192.168.1.20.nip.io",
        "127.0.0.1.attacker.example",
        "localhost.attacker.example",
        "203.0.113.7:5500",
        "[::1",
        "::1",
        "localhost:port",
    ],
)
def test_by_default_other_names_and_public_addresses_are_refused(host):
    assert not AllowedHosts(None).allows(host)


def test_an_explicit_list_replaces_the_default_and_own_names_always_count():
    allowed = AllowedHosts(
        ["mlflow.corp.example", "*.gw.corp.example:*", "10.0.0.5:5500"],
        own_names("https://ml.example.com/gw", ["lb.corp.example:8443"]),
    )
    for host in ("mlflow.corp.example", "a.gw.corp.example:5500", "10.0.0.5:5500"):
        assert allowed.allows(host), host
    for host in ("ml.example.com", "ML.example.com", "lb.corp.example:8443"):
        assert allowed.allows(host), host
    for host in ("127.0.0.1:5500", "localhost", "mlflow.corp.example:5500", "10.0.0.5:5501"):
        assert not allowed.allows(host), host
    assert AllowedHosts(["*"]).allows("anything.example")


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json() == {"error_code": "PERMISSION_DENIED", "message": INVALID_HOST} | DENIED


def test_a_foreign_host_is_refused_and_nothing_is_stored(local_gateway, exp):
    api, target = local_gateway.api, f"{local_gateway.api}/{exp}/rebound.txt"
    assert_refused(requests.put(target, data=b"planted", headers=FOREIGN, timeout=30))
    assert local_gateway.root is not None and not (local_gateway.root / exp).exists()
    requests.put(target, data=b"mine", timeout=30).raise_for_status()
    for method in ("GET", "HEAD", "DELETE"):
        resp = requests.request(method, target, headers=FOREIGN, timeout=30)
        assert resp.status_code == 403, method
    assert_refused(requests.get(api, params={"path": exp}, headers=FOREIGN, timeout=30))
    assert_refused(requests.get(f"{local_gateway.url}/ready", headers=FOREIGN, timeout=30))
    assert requests.get(target, timeout=30).content == b"mine"
    port = urllib.parse.urlsplit(local_gateway.url).port
    assert requests.get(target, headers={"Host": f"localhost:{port}"}, timeout=30).ok
    requests.delete(f"{api}/{exp}", timeout=30).raise_for_status()


def test_health_and_version_answer_any_host_as_mlflow_does(local_gateway):
    for own in ("/health", "/version"):
        assert requests.get(f"{local_gateway.url}{own}", headers=FOREIGN, timeout=30).ok


@pytest.fixture(scope="module")
def fronting(tmp_path_factory) -> Iterator[Gateway]:
    """With a tracking URI (nothing listens there) and an explicit list of names."""
    workdir = tmp_path_factory.mktemp("fronting")
    args = [
        "--artifacts-destination",
        str(workdir / "mlartifacts"),
        "--tracking-uri",
        f"http://127.0.0.1:{free_port()}",
        "--allowed-hosts",
        "mlflow.corp.example,127.0.0.1:*",
    ]
    process, url = start_gateway(workdir, args, clean_env())
    with stopping(Gateway(process, url, "local", root=workdir / "mlartifacts")) as gateway:
        yield gateway


def test_passthrough_is_refused_for_a_foreign_host_before_it_goes_upstream(fronting):
    """The tracking server would see the gateway's Host, never the client's: only here can
    a rebinding page be told apart."""
    search = f"{fronting.url}/api/2.0/mlflow/experiments/search"
    assert_refused(requests.post(search, json={}, headers=FOREIGN, timeout=30))
    assert_refused(requests.get(f"{fronting.url}/", headers={"Host": "localhost"}, timeout=30))
    allowed = requests.post(search, json={}, headers={"Host": "mlflow.corp.example"}, timeout=30)
    assert allowed.status_code == 502  # past the check: the tracking server is not there


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("behind-proxy")
    args = ["--artifacts-destination", str(workdir / "mlartifacts")]
    args += ["--trusted-proxies", "127.0.0.1", "--allowed-hosts", "ml.example.com,127.0.0.1:*"]
    process, url = start_gateway(workdir, args, clean_env())
    with stopping(Gateway(process, url, "local", root=workdir / "mlartifacts")) as gateway:
        yield gateway


def presigned_link(gw: Gateway, path: str, headers: dict[str, str]) -> str:
    url = f"{gw.url}/api/2.0/mlflow-artifacts/presigned/{path}"
    resp = requests.get(url, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["url"]


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ml.example.com, proxy.lan"}


def test_without_public_url_links_ignore_a_clients_forwarded_headers(local_gateway, exp):
    """Any client could otherwise pick the host that the links it is given point to."""
    path = f"{exp}/linked.bin"
    requests.put(f"{local_gateway.api}/{path}", data=b"l", timeout=30).raise_for_status()
    link = presigned_link(local_gateway, path, FORWARDED)
    assert link.startswith(f"{local_gateway.url}/api/")
    port = urllib.parse.urlsplit(local_gateway.url).port
    own = presigned_link(local_gateway, path, {"Host": f"localhost:{port}"})
    assert own.startswith(f"http://localhost:{port}/api/")
    requests.delete(f"{local_gateway.api}/{exp}", timeout=30).raise_for_status()


def test_links_follow_a_trusted_proxys_forwarded_headers(behind_proxy, exp):
    path = f"{exp}/linked.bin"
    requests.put(f"{behind_proxy.api}/{path}", data=b"l", timeout=30).raise_for_status()
    link = presigned_link(behind_proxy, path, FORWARDED)
    assert link.startswith("https://ml.example.com/api/")
    requests.delete(f"{behind_proxy.api}/{exp}", timeout=30).raise_for_status()
