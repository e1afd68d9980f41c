"""An S3 destination's keys. Keys left empty come from botocore's default chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.stores.options import DestinationOptions
from gateway.stores.s3.policy import customer_key, parse_extra_args


class MlflowS3Env(BaseSettings):
    """The S3 variables `mlflow server` reads, so the gateway drops into its place."""

    model_config = SettingsConfigDict(extra="ignore")

    mlflow_s3_endpoint_url: str | None = None
    mlflow_s3_ignore_tls: bool = False
    mlflow_s3_upload_extra_args: str | None = None
    mlflow_s3_expected_bucket_owner: str | None = None


class S3Options(DestinationOptions):
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None
    session_token_file: Path | None = None
    profile: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    verify_tls: bool = True
    # A role (credentials.py): assumed with the keys above or the default chain, or with a
    # web identity token file (IRSA); refreshed by botocore before it expires.
    role_arn: str | None = None
    role_session_name: str | None = None
    external_id: str | None = None
    duration_seconds: int | None = Field(None, ge=900, le=43200)
    web_identity_token_file: Path | None = None
    sts_endpoint_url: str | None = None  # a regional or private STS endpoint
    # Upload policy (policy.py): PutObject, CreateMultipartUpload and copies carry it.
    server_side_encryption: Literal["AES256", "aws:kms", "aws:kms:dsse"] | None = None
    sse_kms_key_id: str | None = None
    bucket_key_enabled: bool | None = None
    sse_customer_key: SecretStr | None = None  # SSE-C, base64 of 32 bytes; sent on reads too
    sse_customer_key_file: Path | None = None
    storage_class: str | None = None
    acl: str | None = None
    expected_bucket_owner: str | None = None
    tagging: str | None = None  # URL-encoded, as S3's x-amz-tagging: "team=ml&tier=gold"
    upload_extra_args: dict[str, Any] = Field(default_factory=dict)  # MLFLOW_S3_UPLOAD_EXTRA_ARGS

    @model_validator(mode="after")
    def _key_pair(self) -> S3Options:
        if self.given("access_key_id") != self.given("secret_access_key"):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if (self.web_identity_token_file or self.external_id) and not self.role_arn:
            raise ValueError("web_identity_token_file and external_id need a role_arn")
        if self.web_identity_token_file and self.external_id:
            raise ValueError("external_id applies to assume-role, not to a web identity")
        if self.sse_kms_key_id and not (self.server_side_encryption or "").startswith("aws:kms"):
            raise ValueError("sse_kms_key_id needs server_side_encryption aws:kms or aws:kms:dsse")
        if self.sse_customer_key is not None:
            customer_key(self.sse_customer_key.get_secret_value())
            if self.server_side_encryption:
                raise ValueError("give server_side_encryption or sse_customer_key, not both")
        parse_extra_args(json.dumps(self.upload_extra_args))
        return self

    def has_upload_policy(self) -> bool:
        """Whether uploads carry parameters a presigned URL could not make the client send."""
        return bool(
            self.upload_extra_args
            or self.given("sse_customer_key")
            or any(
                getattr(self, key) is not None
                for key in (
                    "server_side_encryption",
                    "sse_kms_key_id",
                    "bucket_key_enabled",
                    "storage_class",
                    "acl",
                    "expected_bucket_owner",
                    "tagging",
                )
            )
        )

    @classmethod
    def from_environment(cls, uri: str, env: MlflowS3Env | None = None) -> S3Options:
        env = env or MlflowS3Env()
        return cls(
            uri=uri,
            endpoint_url=env.mlflow_s3_endpoint_url,
            verify_tls=not env.mlflow_s3_ignore_tls,
            upload_extra_args=parse_extra_args(env.mlflow_s3_upload_extra_args),
            expected_bucket_owner=env.mlflow_s3_expected_bucket_owner,
        )
