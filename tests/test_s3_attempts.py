"""An S3 that never answers is asked a bounded number of times, then reported unavailable:
the raw path's HeadObject once (stores/s3/raw_requests), then botocore's three attempts."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.config import S3Transfer
from gateway.stores.errors import DestinationUnavailable
from gateway.stores.s3 import S3Options, S3Store


def test_a_silent_endpoint_gets_four_attempts_then_a_clear_error() -> None:
    async def scenario() -> int:
        accepted: list[asyncio.StreamWriter] = []

        async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # read nothing, answer nothing; closed at the end

        server = await asyncio.start_server(black_hole, "127.0.0.1", 0, family=socket.AF_INET)
        port = server.sockets[0].getsockname()[1]
        options = S3Options(
            uri="s3://bucket/root",
            endpoint_url=f"http://127.0.0.1:{port}",
            region="us-east-1",
            access_key_id="AKIATESTATTEMPTS",
            secret_access_key="not-a-real-secret",
        )
        store = S3Store(options, S3Transfer(connect_timeout=2, read_timeout=0.3), 1024 * 1024)
        await store.start()
        try:
            with pytest.raises(DestinationUnavailable):
                await asyncio.wait_for(store.stat("a/b.txt"), 60)
        finally:
            await store.close()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()
        return len(accepted)

    assert asyncio.run(scenario()) == 4  # one raw HEAD, then botocore's total_max_attempts
