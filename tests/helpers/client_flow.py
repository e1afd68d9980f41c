"""A stock MLflow user's session, run in its own process so no client cache leaks between tests.

`python -m tests.helpers.client_flow <experiment> <registered-model> <workdir>` with
MLFLOW_TRACKING_URI set (tests.helpers.upstreams.run_client_flow does this); prints one JSON
object with what the test checks: ids, URIs, predictions, downloads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

PARAMS = {"alpha": "0.5", "solver": "lsqr"}
METRICS = {"rmse": 0.25, "r2": 0.75}
TAGS = {"team": "gateway", "stage": "test"}
NOTES = "artifacts pass the gateway, metadata pass through\n"


def main(experiment: str, model_name: str, workdir: Path) -> dict:
    mlflow.set_experiment(experiment)
    features = np.arange(40, dtype=float).reshape(20, 2)
    target = features @ np.array([1.5, -2.0]) + 3.0
    with mlflow.start_run() as run:
        mlflow.log_params(PARAMS)
        mlflow.log_metrics(METRICS)
        mlflow.set_tags(TAGS)
        mlflow.log_text(NOTES, "notes/readme.txt")
        mlflow.log_dict({"features": 2}, "config.json")
        model = LinearRegression().fit(features, target)
        info = mlflow.sklearn.log_model(model, name="model", input_example=features[:2])
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    version = mlflow.register_model(info.model_uri, model_name)
    registered = mlflow.pyfunc.load_model(f"models:/{model_name}/{version.version}")

    client = MlflowClient()
    fetched = client.get_run(run.info.run_id)
    downloads = workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    local = client.download_artifacts(run.info.run_id, "notes", str(downloads))
    return {
        "experiment_id": run.info.experiment_id,
        "run_id": run.info.run_id,
        "artifact_uri": fetched.info.artifact_uri,
        "params": fetched.data.params,
        "metrics": fetched.data.metrics,
        "tags": {k: v for k, v in fetched.data.tags.items() if k in TAGS},
        "run_files": sorted(f.path for f in client.list_artifacts(run.info.run_id)),
        "model_id": info.model_id,
        "model_uri": info.model_uri,
        "model_location": client.get_logged_model(info.model_id).artifact_location,
        "version": version.version,
        "expected": model.predict(features[:3]).tolist(),
        "predicted": np.asarray(loaded.predict(features[:3])).tolist(),
        "predicted_registered": np.asarray(registered.predict(features[:3])).tolist(),
        "downloaded": (Path(local) / "readme.txt").read_text(),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))))
