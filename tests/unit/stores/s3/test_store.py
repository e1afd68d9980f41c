"""gateway/stores/s3/store.py: the S3 client's payload signing follows TLS."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config import load_settings
from gateway.stores import create_store, default_options


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [(None, False), ("https://minio.example:9000", False), ("http://127.0.0.1:9000", True)],
)
def test_s3_payload_is_signed_only_without_tls(endpoint, signed):
    """Over TLS botocore need not read every part again to SHA-256 it; over http it must."""
    settings = load_settings(["--artifacts-destination", "s3://bucket/p"])
    dest = default_options(settings.artifacts_destination)
    dest = dest.model_copy(update={"endpoint_url": endpoint})
    store = create_store(dest, settings)

    async def client_config():
        await store.start()
        try:
            return store._client.meta.config.s3
        finally:
            await store.close()

    assert asyncio.run(client_config())["payload_signing_enabled"] is signed
