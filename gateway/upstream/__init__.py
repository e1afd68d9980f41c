"""The MLflow tracking server behind the gateway: client, proxied headers, proxied roots."""
