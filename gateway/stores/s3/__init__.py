"""S3-compatible destinations (AWS, MinIO, SeaweedFS) through aiobotocore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.options import InvalidDestination
from gateway.stores.registry import StoreType
from gateway.stores.s3 import botocore_ssl  # noqa: F401  (before botocore)
from gateway.stores.s3.options import MlflowS3Env, S3Options
from gateway.stores.s3.store import S3Store, parse_s3_uri

if TYPE_CHECKING:
    from gateway.config import Settings


def _create(options: S3Options, settings: Settings) -> S3Store:
    presigned = options.artifacts_presigned_only or settings.artifacts_presigned_only
    if options.has_upload_policy() and (presigned or settings.multipart.direct):
        # A presigned URL handed to a client cannot make it send the policy's headers
        # (MLflow's own clients send none): its uploads would be refused or stored unencrypted.
        raise InvalidDestination(
            "an S3 upload policy (encryption, storage class, ACL, owner, tags, "
            "MLFLOW_S3_UPLOAD_EXTRA_ARGS) cannot apply to presigned URLs: turn off "
            "multipart.direct and artifacts_presigned_only for this destination"
        )
    return S3Store(options, settings.s3, settings.chunk_size)


STORE_TYPE = StoreType(
    schemes=("s3",),
    options=S3Options,
    create=_create,
    environment_secrets=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
)

__all__ = ["STORE_TYPE", "MlflowS3Env", "S3Options", "S3Store", "parse_s3_uri"]
