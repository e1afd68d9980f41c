"""Faults between the gateway and a real `mlflow server` (passthrough and lookups).

The tracking server sits behind the fault proxy; the gateway's `--tracking-uri` is the proxy.
A black hole ends in 504 after `--upstream.read-timeout`; a reset or a dead server in 502; a
break after the answer's headers in a cut connection. The artifact routes keep working, and
passthrough works again once the server is back, with no gateway restart.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults import harness
from tests.faults.harness import (
    Resources,
    Row,
    Seen,
    assert_clear_error,
    get,
    put,
    record,
    request,
    settle,
    sigkill,
    wait_until,
)
from tests.faults.proxy import FaultProxy
from tests.helpers.stack import Gateway, clean_env, start_gateway
from tests.helpers.upstreams import Server, start_tracking_server

pytestmark = pytest.mark.slow

READ_TIMEOUT = 2
EXPERIMENT = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"


@dataclass
class Tracking:
    server: Server
    proxy: FaultProxy
    gateway: Gateway
    big: str  # a UI script path, large enough to cut in the middle
    big_size: int
    baseline: Resources | None = None

    def resources(self) -> Resources:
        return Resources.of(self.gateway.process.pid, {self.proxy.port})

    def settle(self, what: str) -> None:
        assert self.baseline is not None
        settle(self.gateway.process.pid, {self.proxy.port}, self.baseline, what)


def warm(server: Server) -> None:
    """A cold MLflow's first store query can take longer than READ_TIMEOUT on a loaded machine:
    asked directly once, so the gateway's 2 s limit judges the faults, not MLflow's start-up."""
    assert request("GET", f"{server.url}{EXPERIMENT}", timeout=120).ok


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Iterator[Tracking]:
    workdir: Path = tmp_path_factory.mktemp("tracking-faults")
    server = start_tracking_server(workdir / "mlflow", "mlflow-artifacts:/")
    warm(server)
    proxy = FaultProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1])).start()
    gateway = None
    try:
        args = [
            "--artifacts-destination",
            str(workdir / "mlartifacts"),
            "--tracking-uri",
            proxy.endpoint,
            "--upstream.read-timeout",
            str(READ_TIMEOUT),
            "--upstream.connect-timeout",
            "2",
        ]
        process, url = start_gateway(workdir, args, clean_env(), name="tracking-gateway")
        gateway = Gateway(process, url, "local", root=workdir / "mlartifacts")
        index = request("GET", f"{url}/")
        assert index.ok, index.describe()
        scripts = re.findall(rb'src="([^"]+\.js)"', index.body)
        sizes = {}
        for src in scripts:
            path = "/" + src.decode().lstrip("./").lstrip("/")
            seen = request("GET", f"{url}{path}")
            if seen.ok:
                sizes[path] = len(seen.body)
        big = max(sizes, key=sizes.__getitem__)
        assert sizes[big] > 256 * 1024, sizes
        t = Tracking(server, proxy, gateway, big, sizes[big])
        assert request("GET", f"{url}{EXPERIMENT}").ok
        t.baseline = t.resources()
        yield t
    finally:
        if gateway is not None:
            gateway.process.stop()
        proxy.stop()
        server.process.stop()


def _experiment(t: Tracking) -> Seen:
    return request("GET", f"{t.gateway.url}{EXPERIMENT}")


def _artifacts_still_work(t: Tracking, tag: str) -> None:
    assert put(t.gateway, f"0/{tag}/a.txt", b"still here").ok
    assert get(t.gateway, f"0/{tag}/a.txt").body == b"still here"


def test_blackholed_tracking_server_gives_504(tracking: Tracking, monkeypatch):
    monkeypatch.setattr(harness, "client_timeout", 30)
    tracking.proxy.fault(blackhole=True)
    seen = _experiment(tracking)
    _artifacts_still_work(tracking, "bh")
    tracking.proxy.clear()
    record(
        Row(
            "black hole",
            "gateway to tracking server",
            "passthrough GET",
            seen.describe(),
            "nothing",
        )
    )
    assert_clear_error(seen, "black hole")
    assert seen.status == 504 and seen.json["error_code"] == "DEADLINE_EXCEEDED", seen.describe()
    assert _experiment(tracking).ok
    tracking.settle("black hole")


def test_refused_tracking_connection_gives_502(tracking: Tracking):
    tracking.proxy.reset_all()  # no pooled connection escapes the fault
    tracking.proxy.fault(refuse=True)
    seen = _experiment(tracking)
    tracking.proxy.clear()
    record(
        Row(
            "reset on connect (every connection)",
            "gateway to tracking server",
            "passthrough GET",
            seen.describe(),
            "nothing",
        )
    )
    assert_clear_error(seen, "refused")
    assert seen.status == 502 and seen.json["error_code"] == "TEMPORARILY_UNAVAILABLE", (
        seen.describe()
    )
    assert _experiment(tracking).ok
    tracking.settle("refused")


RESETS = {
    "in-request": {"cut_after": 50, "direction": "up", "how": "reset"},
    "in-answer-headers": {"cut_after": 10, "direction": "down", "how": "reset"},
}


@pytest.mark.parametrize("where", list(RESETS))
def test_one_off_reset_on_an_idempotent_get_is_retried(tracking: Tracking, where):
    tracking.proxy.reset_all()
    tracking.proxy.fault(**RESETS[where])
    seen = _experiment(tracking)
    assert tracking.proxy.wait_fired(1)
    tracking.proxy.clear()
    record(
        Row(
            "reset once",
            f"gateway to tracking server, {where}",
            "passthrough GET",
            seen.describe(),
            "nothing",
        )
    )
    assert seen.ok, f"a GET is safe to send again before its first byte: {seen.describe()}"
    tracking.settle(f"reset {where}")


@pytest.mark.parametrize("where", list(RESETS))
def test_one_off_reset_on_a_post_is_not_retried(tracking: Tracking, where):
    name = f"exp-{where}-{time.monotonic_ns()}"
    tracking.proxy.reset_all()
    tracking.proxy.fault(**RESETS[where])
    seen = request(
        "POST", f"{tracking.gateway.url}/api/2.0/mlflow/experiments/create", json={"name": name}
    )
    assert tracking.proxy.wait_fired(1)
    tracking.proxy.clear()
    found = request(
        "GET",
        f"{tracking.gateway.url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": name},
    )
    record(
        Row(
            "reset once",
            f"gateway to tracking server, {where}",
            "passthrough POST",
            seen.describe(),
            f"experiment {'created' if found.ok else 'not created'}",
        )
    )
    assert_clear_error(seen, f"POST reset {where}")
    assert seen.status == 502, seen.describe()
    tracking.settle(f"POST reset {where}")


def test_cut_mid_answer_reaches_the_client_as_a_cut(tracking: Tracking):
    expected = request("GET", f"{tracking.gateway.url}{tracking.big}").body
    tracking.proxy.reset_all()
    tracking.proxy.fault(cut_after=len(expected) // 2, direction="down")
    seen = request("GET", f"{tracking.gateway.url}{tracking.big}")
    assert tracking.proxy.wait_fired(1)
    tracking.proxy.clear()
    record(
        Row(
            "cut once (FIN)",
            "tracking server's answer, mid-body",
            "passthrough GET (UI script)",
            seen.describe(),
            "nothing",
        )
    )
    assert seen.cut is not None, f"a cut answer must not look whole: {seen.describe()}"
    assert seen.body == expected[: len(seen.body)] and len(seen.body) < len(expected)
    assert request("GET", f"{tracking.gateway.url}{tracking.big}").body == expected
    tracking.settle("cut mid-answer")


def test_kill_tracking_server_mid_passthrough_then_restart(tracking: Tracking):
    tracking.proxy.fault(bandwidth=128 * 1024, direction="down")
    out: list[Seen] = []
    thread = threading.Thread(
        target=lambda: out.append(request("GET", f"{tracking.gateway.url}{tracking.big}")),
        daemon=True,
    )
    start = tracking.proxy.stats().bytes_down
    thread.start()
    assert wait_until(lambda: tracking.proxy.stats().bytes_down - start > 64 * 1024, 30)
    sigkill(tracking.server.process)
    tracking.proxy.clear()
    thread.join(60)
    assert not thread.is_alive()
    during = out[0]
    # The kill may come after MLflow has already written the rest of the answer into loopback
    # socket buffers (several MiB): then the whole answer arriving is right. What must never
    # happen is a short answer that looks complete.
    whole = during.ok and during.cut is None and len(during.body) == tracking.big_size
    while_down = _experiment(tracking)
    _artifacts_still_work(tracking, "down")

    tracking.server.process.proc = None
    tracking.server.process.start()  # same argv: same port, same database
    warm(tracking.server)
    after = _experiment(tracking)
    record(
        Row(
            "kill -9 the tracking server, restart it on the same port",
            "mid-passthrough (UI script, throttled)",
            "passthrough GET",
            f"in flight: {during.describe()}"
            + (" (all of it: MLflow had sent it before the kill)" if whole else "")
            + f"; while down: {while_down.describe()}; "
            f"artifact routes kept working; after the restart: {after.describe()}, "
            "no gateway restart",
            "nothing",
        )
    )
    assert whole or during.cut is not None or (during.status or 0) >= 500, during.describe()
    assert whole or during.body == b"" or not during.ok
    assert_clear_error(while_down, "tracking server down")
    assert while_down.status == 502, while_down.describe()
    assert after.ok, after.describe()
    time.sleep(0.5)
    tracking.settle("tracking server restart")
