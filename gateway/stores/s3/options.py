"""An S3 destination's keys. Keys left empty come from botocore's default chain."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.stores.options import DestinationOptions


class MlflowS3Env(BaseSettings):
    """The S3 variables `mlflow server` reads, so the gateway drops into its place."""

    model_config = SettingsConfigDict(extra="ignore")

    mlflow_s3_endpoint_url: str | None = None
    mlflow_s3_ignore_tls: bool = False


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

    @model_validator(mode="after")
    def _key_pair(self) -> S3Options:
        if self.given("access_key_id") != self.given("secret_access_key"):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self

    @classmethod
    def from_environment(cls, uri: str, env: MlflowS3Env | None = None) -> S3Options:
        env = env or MlflowS3Env()
        return cls(
            uri=uri,
            endpoint_url=env.mlflow_s3_endpoint_url,
            verify_tls=not env.mlflow_s3_ignore_tls,
        )
