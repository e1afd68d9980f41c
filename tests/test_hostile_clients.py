"""Fair share under hostile and slow clients (issue 23), on real gateways: SeaweedFS and local
disk for the byte routes, a real `mlflow server` behind the passthrough and `upload-artifact`.

Each attack runs while an honest user (another client address) does small PUTs and GETs:
every honest request must succeed, the gateway's peak RSS must stay within budget + idle +
margin, and nothing the attacker started may be stored. The limits are small (a 16 MiB budget,
a 1 MiB/s floor after 2 s) so each attack ends in seconds; the honest user's patience
(`REQUEST_TIMEOUT`) and the cut-off bound (`BOUND`) are far longer, and no assertion is about
how soon anything happened. The honest user's latency under attack is measured by the
benchmark harness (`tests/benchmarks/hostile.py`), not here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from tests.helpers.hostile import (
    Dripper,
    NonReader,
    attacking,
    head,
    honest_headers,
    honest_round,
)
from tests.helpers.memory import MARGIN_MIB, peak_rss_mib, vm_rss_mib
from tests.helpers.metrics_text import samples, value
from tests.helpers.multipart import staged
from tests.helpers.processes import wait_until
from tests.helpers.stack import BUCKET, Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import leftovers
from tests.helpers.upstreams import Server, start_tracking_server, stopping

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
BUDGET_MIB = 16
BOUND = 60.0  # every attacker is cut off within this
LIMITS = [
    *("--memory-budget", f"{BUDGET_MIB}MiB", "--trusted-proxies", "127.0.0.1"),
    *("--fair-share.min-rate", "1MiB", "--fair-share.rate-grace", "2"),
    *("--body-idle-timeout", "30"),
]
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _started(workdir, args: list[str], env: dict[str, str], **kind) -> Iterator[Gateway]:
    process, url = start_gateway(workdir, [*LIMITS, *args], env)
    with stopping(Gateway(process, url, **kind)) as gateway:
        yield gateway


@pytest.fixture(scope="module", params=["local", "s3"])
def hostile(request, tmp_path_factory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp(f"hostile-{request.param}")
    root = workdir / "mlartifacts"
    env, args, kind = clean_env(), ["--artifacts-destination", str(root)], {"root": root}
    if request.param == "s3":
        env |= s3_env(request.getfixturevalue("seaweed").endpoint)
        args = ["--artifacts-destination", f"s3://{BUCKET}/hostile"]
        kind = {"prefix": "hostile"}
    yield from _started(workdir, args, env, destination=request.param, **kind)


def _idle_mib(gw: Gateway) -> float:
    requests.get(f"{gw.url}/health", timeout=30)
    return vm_rss_mib(gw.process.pid)


def _assert_within_budget(gw: Gateway, idle: float, measurements: list[str], what: str) -> None:
    peak, bound = peak_rss_mib(gw.process.pid), BUDGET_MIB + idle + MARGIN_MIB
    measurements.append(f"{what} ({gw.destination}): idle {idle:.0f} MiB, peak {peak:.0f} MiB")
    assert peak <= bound, f"peak RSS {peak:.0f} MiB over budget + idle + margin = {bound:.0f}"


def _honest_rounds(api: str, directory: str, rounds: int = 4) -> list[str]:
    """What went wrong for the honest user (an empty list: everything succeeded)."""
    failures = []
    for i in range(rounds):
        payload = os.urandom(300_000 if i % 2 else 5)
        outcomes = honest_round(api, f"{directory}/honest-{i}.bin", payload)
        failures += [outcome for outcome, _ in outcomes if outcome != "ok"]
        if failures:  # each failure may have cost a whole REQUEST_TIMEOUT
            break
    return failures


def _beside(exp: str, attacker: int = 0) -> str:
    """An experiment of the attacker's own, so what it leaves is told from the honest user's
    (and from another attacker's: failed uploads racing in one new directory may leave it)."""
    return str(int(exp) + 1 + attacker)


def _in_flight(gw: Gateway, direction: str) -> float:
    answer = requests.get(f"{gw.url}/metrics", timeout=30).text
    return value(samples(answer), "gateway_transfers_in_flight", direction=direction)


def _all_cut_off(attackers) -> bool:
    return wait_until(lambda: all(a.closed_by_gateway for a in attackers), BOUND)


def test_dripped_uploads_do_not_stall_other_users(hostile, s3, exp, measurements):
    """32 uploads announcing 100 MiB that drip a byte every half second: on today's main they
    held the whole budget for as long as they dripped, and the honest user's requests hung."""
    gw, idle = hostile, _idle_mib(hostile)
    start = [
        head(gw.url, "PUT", f"{ARTIFACTS}/{_beside(exp, i)}/attack/{i}.bin", 100 * MIB)
        + b"a" * 70_000
        for i in range(32)
    ]
    with attacking(lambda i: Dripper(gw.url, start[i]), 32):
        assert _honest_rounds(gw.api, f"{exp}/run") == []
        _assert_within_budget(gw, idle, measurements, "32 dripped 100 MiB uploads")
        # No cut-off bound: uploads queued behind their share's budget are not judged by the
        # floor while the gateway makes them wait (each is, once it reads again).
    attacks = [f"{_beside(exp, i)}/attack" for i in range(32)]

    def left() -> list[str]:
        return [found for attack in attacks for found in leftovers(gw, s3, attack)]

    assert wait_until(lambda: not left(), BOUND), left()


def test_clients_that_never_read_do_not_freeze_downloads(hostile, exp, measurements):
    """16 downloads of a 24 MiB file by clients with a 4 KiB receive window that never read:
    on today's main they held the whole 16 MiB budget and froze every download. Each is cut
    off once it falls below the floor (the kernel's buffers take a few MiB first, so that takes
    a few seconds), and only four of them (a quarter of the budget) hold budget at once."""
    gw, idle = hostile, _idle_mib(hostile)
    big = os.urandom(24 * MIB)
    stored = requests.put(f"{gw.api}/{exp}/big.bin", data=big, timeout=120)
    assert stored.status_code == 200, stored.text
    target = f"{ARTIFACTS}/{exp}/big.bin"
    with attacking(lambda i: NonReader(gw.url, target), 16):
        failures = _honest_rounds(gw.api, f"{exp}/run")
        assert failures == []
        # A client that never reads cannot see the gateway hang up (the answer's bytes come
        # first): the gateway's own count of downloads in flight says they were cut off.
        assert wait_until(lambda: _in_flight(gw, "download") == 0, BOUND), "outlived the floor"
    again = requests.get(f"{gw.api}/{exp}/big.bin", headers=honest_headers(), timeout=120)
    assert again.content == big
    _assert_within_budget(gw, idle, measurements, "16 downloads never read")


def test_dripped_parts_on_one_part_link_do_not_stall_other_users(hostile, s3, exp):
    """86 PUTs without credentials on one gateway-signed part link, dripping: on today's main
    another user's 16-byte GET got its headers and then nothing."""
    gw = hostile
    created = requests.post(
        f"{gw.url}/api/2.0/mlflow-artifacts/mpu/create/{_beside(exp)}/attack",
        json={"path": "parts.bin", "num_parts": 1},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    link = created.json()["credentials"][0]["url"]
    target = link.removeprefix(gw.url)
    start = head(gw.url, "PUT", target, 64 * MIB) + b"p" * 70_000
    assert requests.put(f"{gw.api}/{exp}/small.bin", data=b"sixteen bytes!!!", timeout=30).ok
    with attacking(lambda i: Dripper(gw.url, start), 86):
        got = requests.get(f"{gw.api}/{exp}/small.bin", headers=honest_headers(), timeout=60)
        assert got.content == b"sixteen bytes!!!"
        assert _honest_rounds(gw.api, f"{exp}/run", rounds=2) == []
        # No cut-off bound here: the link's share holds one part's budget, and the PUTs
        # queued behind it are not judged while the gateway makes them wait (one per grace).
    assert wait_until(lambda: _in_flight(gw, "upload") == 0, BOUND)  # every part PUT over
    upload_id = created.json()["upload_id"]
    body = {"path": "parts.bin", "upload_id": upload_id}
    abort = f"{gw.url}/api/2.0/mlflow-artifacts/mpu/abort/{_beside(exp)}/attack"
    assert requests.post(abort, json=body, timeout=30).status_code == 200

    def left() -> list[str]:
        return leftovers(gw, s3, f"{_beside(exp)}/attack") + [
            staged_id for staged_id in staged(gw) if upload_id in staged_id
        ]

    assert wait_until(lambda: not left(), BOUND), left()


# Behind a real tracking server: the passthrough pool and the UI's upload-artifact.


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Iterator[Server]:
    server = start_tracking_server(
        tmp_path_factory.mktemp("hostile-tracking"), "mlflow-artifacts:/"
    )
    with stopping(server):
        yield server


@pytest.fixture(scope="module")
def fronting(tracking, seaweed, tmp_path_factory) -> Iterator[Gateway]:
    """Eight upstream connections, two per user, so the pool attack is small."""
    args = [
        *("--artifacts-destination", f"s3://{BUCKET}/hostile-a", "--tracking-uri", tracking.url),
        *("--upstream.max-connections", "8", "--upstream.max-connections-per-user", "2"),
        *("--upstream.connect-timeout", "5"),
    ]
    env = clean_env(**s3_env(seaweed.endpoint))
    yield from _started(
        tmp_path_factory.mktemp("hostile-a"), args, env, destination="s3", prefix="hostile-a"
    )


def _run(gw: Gateway) -> dict:
    api = f"{gw.url}/api/2.0/mlflow"
    created = requests.post(
        f"{api}/experiments/create", json={"name": os.urandom(6).hex()}, timeout=30
    )
    assert created.status_code == 200, created.text
    experiment = created.json()["experiment_id"]
    run = requests.post(f"{api}/runs/create", json={"experiment_id": experiment}, timeout=30)
    assert run.status_code == 200, run.text
    return run.json()["run"]["info"]


def test_one_user_cannot_take_the_tracking_servers_pool(fronting):
    """100 `runs/search` whose 1 MB bodies drip: on today's main every other user got 504."""
    gw = fronting
    start = head(gw.url, "POST", "/api/2.0/mlflow/runs/search", 1_000_000) + b"{"
    with attacking(lambda i: Dripper(gw.url, start), 100) as attackers:
        for _ in range(5):
            answer = requests.get(
                f"{gw.url}/api/2.0/mlflow/experiments/search",
                params={"max_results": "5"},
                headers=honest_headers(),
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
        assert _all_cut_off(attackers)


def test_ui_uploads_stream_under_the_budget(fronting, s3, measurements):
    """24 `upload-artifact` requests of 9 MB, each dripping its last 100 bytes: on today's
    main each was buffered whole outside the budget (RSS rose past budget + idle + margin)."""
    gw, idle = fronting, _idle_mib(fronting)
    info = _run(gw)
    size = 9_000_000

    def attacker(i: int) -> Dripper:
        target = f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={info['run_id']}&path=ui-{i}.bin"
        return Dripper(gw.url, head(gw.url, "POST", target, size) + b"u" * (size - 100), 1.0)

    with attacking(attacker, 24):
        assert _honest_rounds(gw.api, f"{info['experiment_id']}/honest") == []
        _assert_within_budget(gw, idle, measurements, "24 dripped 9 MB upload-artifact requests")
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert wait_until(lambda: not leftovers(gw, s3, f"{root}/ui-"), BOUND), leftovers(
        gw, s3, f"{root}/ui-"
    )
