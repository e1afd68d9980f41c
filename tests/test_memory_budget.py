"""Many concurrent transfers through one gateway on SeaweedFS: the memory budget bounds its peak
RSS, and every transfer still finishes (waiting for budget never deadlocks)."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers.memory import (
    MARGIN_MIB,  # bound here: 64 + idle + 80 = 220 MiB
    TIMEOUT,
    Sized,
    expected_digest,
    peak_rss_mib,
    vm_rss_mib,
)
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import BUCKET, clean_env, s3_env, start_gateway

# peak and settled RSS against budget + idle + measured margins (MARGIN_MIB, SETTLED_MARGIN_MIB)
pytestmark = [pytest.mark.slow, pytest.mark.perf]

MIB = 1024 * 1024
BUDGET_MIB = 64
TRANSFERS = 32
SETTLED_MARGIN_MIB = 40  # without the idle trim RSS stayed 90 MiB above idle (164 MiB) here


def settled_rss_mib(pid: int, target: float, attempts: int = 20) -> float:
    """RSS once the gateway has had a few seconds idle (it trims its heap after 1 s)."""
    rss = vm_rss_mib(pid)
    for _ in range(attempts):
        if rss <= target:
            break
        time.sleep(0.5)
        rss = vm_rss_mib(pid)
    return rss


@pytest.fixture(scope="module")
def budgeted_gateway(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory):
    """Its own process, so its peak RSS is this test's alone; 4 MiB chunks so that downloads,
    too, want more than the budget at once (32 x 4 MiB)."""
    workdir = tmp_path_factory.mktemp("budget-gateway")
    args = [
        "--artifacts-destination",
        f"s3://{BUCKET}/budget",
        "--memory-budget",
        f"{BUDGET_MIB}MiB",
        "--chunk-size",
        "4MiB",
    ]
    process, url = start_gateway(workdir, args, clean_env(**s3_env(seaweed.endpoint)))
    try:
        yield process, f"{url}/api/2.0/mlflow-artifacts/artifacts"
    finally:
        process.stop()


def test_concurrent_uploads_and_downloads_stay_within_the_budget(
    budgeted_gateway, exp, measurements
):
    process, api = budgeted_gateway
    requests.get(f"{api}/{exp}/warm", timeout=30)  # first request: lazy imports, pools
    idle = vm_rss_mib(process.pid)
    url = [f"{api}/{exp}/run/artifacts/f{i}.bin" for i in range(TRANSFERS)]

    def upload(i: int) -> int:
        return requests.put(url[i], data=Sized(i), timeout=TIMEOUT).status_code

    def download(i: int) -> str:
        digest = hashlib.sha256()
        with requests.get(url[i], stream=True, timeout=TIMEOUT) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(MIB):
                digest.update(chunk)
        return digest.hexdigest()

    half = TRANSFERS // 2

    with ThreadPoolExecutor(TRANSFERS) as pool:
        assert list(pool.map(upload, range(half))) == [200] * half
        # Then both ways at once: half the objects read back while the rest are written.
        reads = pool.map(download, range(half))
        writes = pool.map(upload, range(half, TRANSFERS))
        assert list(writes) == [200] * (TRANSFERS - half)
        assert list(reads) == [expected_digest(i) for i in range(half)]
        assert list(pool.map(download, range(TRANSFERS))) == [
            expected_digest(i) for i in range(TRANSFERS)
        ]

    peak = peak_rss_mib(process.pid)
    bound = BUDGET_MIB + idle + MARGIN_MIB
    measurements.append(
        f"budgeted gateway ({BUDGET_MIB} MiB budget), {TRANSFERS} concurrent 40 MiB transfers "
        f"each way: idle {idle:.0f} MiB, peak {peak:.0f} MiB, bound {bound:.0f} MiB"
    )
    assert peak <= bound, f"peak RSS {peak:.0f} MiB over budget + idle + margin = {bound:.0f}"
    after = settled_rss_mib(process.pid, idle + SETTLED_MARGIN_MIB)
    measurements.append(f"budgeted gateway RSS once idle again: {after:.0f} MiB")
    assert after <= idle + SETTLED_MARGIN_MIB, f"RSS stayed at {after:.0f} MiB after the load"
    requests.delete(f"{api}/{exp}", timeout=120).raise_for_status()
