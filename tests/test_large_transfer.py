"""A 1 GiB artifact through the gateway both ways: equal SHA-256, bounded gateway memory."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.helpers.memory import BLOCK, body, peak_rss_mib
from tests.helpers.stack import BUCKET, Gateway
from tests.helpers.storage import pending_uploads

# peak RSS under a limit set from measurements (RSS_LIMIT_MIB)
pytestmark = [pytest.mark.slow, pytest.mark.perf]

GIB = 1024**3
# part_size (8 MiB) x (concurrency 3 + 1) plus the interpreter, aiohttp and aiobotocore;
# a gateway that buffered the body would need well over 1 GiB.
RSS_LIMIT_MIB = 320


def test_one_gib_round_trip_streams_in_bounded_memory(gateway: Gateway, s3, exp, measurements):
    path = f"{exp}/run/artifacts/big.bin"
    sent = hashlib.sha256()
    resp = requests.put(f"{gateway.api}/{path}", data=body(GIB, sent), timeout=600)
    assert resp.status_code == 200, resp.text

    received = hashlib.sha256()
    size = 0
    with requests.get(f"{gateway.api}/{path}", stream=True, timeout=600) as download:
        assert download.status_code == 200
        assert int(download.headers["Content-Length"]) == GIB
        for chunk in download.iter_content(BLOCK):
            received.update(chunk)
            size += len(chunk)
    assert size == GIB
    assert received.hexdigest() == sent.hexdigest()

    if gateway.destination == "s3":
        head = s3.head_object(Bucket=BUCKET, Key=gateway.key(path))
        assert head["ContentLength"] == GIB
        assert not [u for u in pending_uploads(s3) if u["Key"] == gateway.key(path)]
    else:
        assert gateway.root is not None
        assert (gateway.root / path).stat().st_size == GIB
    peak = peak_rss_mib(gateway.process.pid)
    measurements.append(
        f"{gateway.destination} gateway peak RSS after 1 GiB both ways: {peak:.0f} MiB"
    )
    assert peak < RSS_LIMIT_MIB, f"gateway peak RSS {peak:.0f} MiB: the transfer was buffered"
    requests.delete(f"{gateway.api}/{exp}", timeout=120).raise_for_status()
