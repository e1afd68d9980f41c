"""S3-compatible destinations (AWS, MinIO, SeaweedFS) through aiobotocore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.registry import StoreType
from gateway.stores.s3.options import MlflowS3Env, S3Options
from gateway.stores.s3.store import S3Store, parse_s3_uri

if TYPE_CHECKING:
    from gateway.config import Settings


def _create(options: S3Options, settings: Settings) -> S3Store:
    return S3Store(options, settings.s3, settings.chunk_size)


STORE_TYPE = StoreType(
    schemes=("s3",),
    options=S3Options,
    create=_create,
    environment_secrets=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
)

__all__ = ["STORE_TYPE", "MlflowS3Env", "S3Options", "S3Store", "parse_s3_uri"]
