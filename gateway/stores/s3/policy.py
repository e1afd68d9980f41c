"""A destination's S3 upload policy (encryption, storage class, ACL, owner, tags) as botocore
parameters, for every call that writes an object, and SSE-C's key for every read too.

MLflow's `MLFLOW_S3_UPLOAD_EXTRA_ARGS` is a JSON object of boto3 `ExtraArgs`
(`S3ArtifactRepository.get_s3_file_upload_extra_args`); the implicit destination reads it the
same way, and the per-destination keys override what it says.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

SHA256_META = "sha256"  # x-amz-meta-sha256: the whole object's SHA-256, hex

if TYPE_CHECKING:
    from gateway.stores.s3.options import S3Options

# boto3.s3.transfer.S3Transfer.ALLOWED_UPLOAD_ARGS that PutObject and CreateMultipartUpload
# share (the checksum and request-payer ones are the gateway's own business).
UPLOAD_ARGS = frozenset(
    {
        "ACL",
        "CacheControl",
        "ContentDisposition",
        "ContentEncoding",
        "ContentLanguage",
        "ContentType",
        "ExpectedBucketOwner",
        "Expires",
        "GrantFullControl",
        "GrantRead",
        "GrantReadACP",
        "GrantWriteACP",
        "Metadata",
        "ObjectLockLegalHoldStatus",
        "ObjectLockMode",
        "ObjectLockRetainUntilDate",
        "ServerSideEncryption",
        "StorageClass",
        "SSECustomerAlgorithm",
        "SSECustomerKey",
        "SSECustomerKeyMD5",
        "SSEKMSKeyId",
        "SSEKMSEncryptionContext",
        "Tagging",
        "WebsiteRedirectLocation",
        "BucketKeyEnabled",
    }
)


def parse_extra_args(value: str | None) -> dict[str, Any]:
    """`MLFLOW_S3_UPLOAD_EXTRA_ARGS` as MLflow parses it (`json.loads`), keys checked here so a
    typo is a start-up error, not a refusal of every upload."""
    if not value:
        return {}
    try:
        args = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"MLFLOW_S3_UPLOAD_EXTRA_ARGS is not JSON: {exc}") from exc
    if not isinstance(args, dict):
        raise ValueError("MLFLOW_S3_UPLOAD_EXTRA_ARGS must be a JSON object")
    unknown = sorted(set(args) - UPLOAD_ARGS)
    if unknown:
        raise ValueError(f"MLFLOW_S3_UPLOAD_EXTRA_ARGS has unknown keys: {', '.join(unknown)}")
    return args


def customer_key(encoded: str) -> bytes:
    """SSE-C's 256-bit key, given base64-encoded (a file of 32 raw bytes is not text)."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("sse_customer_key must be base64") from exc
    if len(key) != 32:
        raise ValueError("sse_customer_key must be 32 bytes (AES-256), base64-encoded")
    return key


def read_args(dest: S3Options) -> dict[str, Any]:
    """What every GetObject/HeadObject (ranged ones too) and copy source must carry: SSE-C."""
    if dest.sse_customer_key is None:
        # MLflow's ExtraArgs give boto3 the raw key; it must come back on every read.
        extra = dest.upload_extra_args
        names = ("SSECustomerAlgorithm", "SSECustomerKey")
        return {name: extra[name] for name in names if name in extra}
    key = customer_key(dest.sse_customer_key.get_secret_value())
    # botocore adds the key's base64 and MD5 headers itself (handlers.sse_md5).
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def upload_args(dest: S3Options) -> dict[str, Any]:
    """Parameters for PutObject and CreateMultipartUpload (and a copy's destination)."""
    args = dict(dest.upload_extra_args)
    keys = {
        "ServerSideEncryption": dest.server_side_encryption,
        "SSEKMSKeyId": dest.sse_kms_key_id,
        "BucketKeyEnabled": dest.bucket_key_enabled,
        "StorageClass": dest.storage_class,
        "ACL": dest.acl,
        "ExpectedBucketOwner": dest.expected_bucket_owner,
        "Tagging": dest.tagging,
    }
    args.update({name: value for name, value in keys.items() if value is not None})
    return args | read_args(dest)


def part_args(dest: S3Options) -> dict[str, Any]:
    """UploadPart repeats SSE-C (S3 refuses a part without it) and the bucket owner."""
    args = read_args(dest)
    if dest.expected_bucket_owner:
        args["ExpectedBucketOwner"] = dest.expected_bucket_owner
    return args


def with_digest(args: dict[str, Any], sha256: bytes) -> dict[str, Any]:
    """The upload policy plus the object's digest: in its metadata, which every S3 keeps and
    returns on HEAD/GET, and as `ChecksumSHA256`, which S3 verifies on receipt."""
    out = dict(args)
    out["Metadata"] = {**args.get("Metadata", {}), SHA256_META: sha256.hex()}
    out["ChecksumSHA256"] = base64.b64encode(sha256).decode()
    return out
