"""gateway/stores/s3/options.py: MLflow's S3 environment variables configure the default
destination."""

from __future__ import annotations

from gateway.config import load_settings
from gateway.stores import default_options
from gateway.stores.s3 import MlflowS3Env


def test_mlflow_s3_env_configures_the_default_destination(monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    dest = default_options(
        load_settings(["--artifacts-destination", "s3://b/p"]).artifacts_destination
    )
    assert dest.endpoint_url == "http://minio:9000" and dest.verify_tls is False
    assert MlflowS3Env().mlflow_s3_endpoint_url == "http://minio:9000"
