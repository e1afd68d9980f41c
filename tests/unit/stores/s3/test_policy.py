"""gateway/stores/s3/policy.py: per-destination keys and MLflow's extra args as botocore
parameters; combinations that cannot work are refused at start-up."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.config import Settings
from gateway.stores.options import InvalidDestination
from gateway.stores.s3 import STORE_TYPE, MlflowS3Env, S3Options
from gateway.stores.s3.policy import part_args, read_args, upload_args

KEY = base64.b64encode(bytes(32)).decode()


def test_keys_become_botocore_parameters() -> None:
    dest = S3Options(
        uri="s3://b/p",
        server_side_encryption="aws:kms",
        sse_kms_key_id="alias/k",
        bucket_key_enabled=True,
        storage_class="GLACIER_IR",
        acl="bucket-owner-full-control",
        expected_bucket_owner="123456789012",
        tagging="a=b",
    )
    assert upload_args(dest) == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/k",
        "BucketKeyEnabled": True,
        "StorageClass": "GLACIER_IR",
        "ACL": "bucket-owner-full-control",
        "ExpectedBucketOwner": "123456789012",
        "Tagging": "a=b",
    }
    assert read_args(dest) == {}
    assert part_args(dest) == {"ExpectedBucketOwner": "123456789012"}


def test_sse_c_goes_on_reads_and_parts() -> None:
    dest = S3Options(uri="s3://b/p", sse_customer_key=KEY)
    expected = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": bytes(32)}
    assert read_args(dest) == part_args(dest) == expected
    assert upload_args(dest) == expected


def test_mlflow_extra_args_as_mlflow_parses_them() -> None:
    extra = {"ServerSideEncryption": "AES256", "ACL": "private"}
    env = MlflowS3Env(mlflow_s3_upload_extra_args=json.dumps(extra))
    dest = S3Options.from_environment("s3://b/p", env)
    assert upload_args(dest) == extra
    with pytest.raises(ValueError, match="unknown keys: Bogus"):
        S3Options.from_environment(
            "s3://b/p", MlflowS3Env(mlflow_s3_upload_extra_args='{"Bogus": 1}')
        )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"sse_kms_key_id": "k"}, "needs server_side_encryption aws:kms"),
        ({"sse_customer_key": "c2hvcnQ="}, "32 bytes"),
        ({"sse_customer_key": KEY, "server_side_encryption": "AES256"}, "not both"),
    ],
)
def test_inconsistent_policies_are_refused(keys: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S3Options(uri="s3://b/p", **keys)


def test_a_policy_cannot_ride_on_presigned_urls() -> None:
    dest = S3Options(uri="s3://b/p", storage_class="STANDARD_IA")
    with pytest.raises(InvalidDestination, match="cannot apply to presigned URLs"):
        STORE_TYPE.create(dest, Settings(multipart={"direct": True}))
    with pytest.raises(InvalidDestination, match="cannot apply to presigned URLs"):
        STORE_TYPE.create(dest, Settings(artifacts_presigned_only=True))
    STORE_TYPE.create(dest, Settings())  # through the gateway: fine
