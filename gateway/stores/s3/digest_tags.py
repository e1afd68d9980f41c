"""The digest of an object the gateway stored by multipart upload, kept as an object tag.

Its metadata is fixed at CreateMultipartUpload, before the digest is known, and S3 has no
full-object SHA-256 for multipart uploads (only CRCs, "Checking object integrity" in the S3
guide). A copy onto itself could set the metadata, but rewrites every byte (measured in
docs/integrity.md); `PutObjectTagging` sets a tag without touching them. Reads of an object
with a multipart ETag and no `x-amz-meta-sha256` ask for its tags once (`GetObjectTagging`).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from gateway.stores.digests import parse_hex

TAG = "sha256"


def tag_set(policy_tagging: str | None, sha256: bytes) -> dict[str, Any]:
    """The policy's tags (`PutObjectTagging` replaces the whole set) and the digest."""
    pairs = urllib.parse.parse_qsl(policy_tagging or "", keep_blank_values=True)
    tags = [{"Key": key, "Value": value} for key, value in pairs if key != TAG]
    return {"TagSet": [*tags, {"Key": TAG, "Value": sha256.hex()}]}


async def keep(client: Any, bucket: str, key: str, policy: dict[str, Any], sha256: bytes) -> None:
    owner = (
        {"ExpectedBucketOwner": policy["ExpectedBucketOwner"]}
        if policy.get("ExpectedBucketOwner")
        else {}
    )
    await client.put_object_tagging(
        Bucket=bucket, Key=key, Tagging=tag_set(policy.get("Tagging"), sha256), **owner
    )


def may_be_tagged(etag: str) -> bool:
    """A multipart upload's ETag ends in `-<parts>`; only those can carry the tag."""
    return "-" in etag


async def tagged(client: Any, bucket: str, key: str) -> bytes | None:
    response = await client.get_object_tagging(Bucket=bucket, Key=key)
    values = [tag["Value"] for tag in response.get("TagSet", []) if tag["Key"] == TAG]
    return parse_hex(values[0]) if values else None
