"""mlflow-artifact-gateway: MLflow's artifact REST API, streamed to object storage."""

__version__ = "0.1.0"
