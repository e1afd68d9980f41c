"""A stock MLflow user switching workspaces, in its own interpreter.

`python -m tests.helpers.workspace_client <workdir> <workspace>...` with MLFLOW_TRACKING_URI set:
for each workspace, `mlflow.create_workspace` (when missing) and `mlflow.set_workspace`, as
MLflow's docs say, then a run that logs two files, lists them, downloads one and deletes the
other. Prints one JSON object: per workspace the experiment, run, artifact URI and what the
client saw.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository


def session(workdir: Path, workspace: str) -> dict:
    try:
        mlflow.create_workspace(workspace)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mlflow.set_workspace(workspace)
    experiment = mlflow.set_experiment(f"tenancy-{workspace}")
    source = workdir / workspace
    source.mkdir(parents=True, exist_ok=True)
    (source / "keep.txt").write_text(f"kept in {workspace}\n")
    (source / "gone.txt").write_text(f"deleted in {workspace}\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "keep.txt"), "sub")
        mlflow.log_artifact(str(source / "gone.txt"), "sub")
    run_id = run.info.run_id
    listed = [f.path for f in mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="sub")]
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="sub/keep.txt", dst_path=str(workdir / f"dl-{workspace}")
    )
    get_artifact_repository(run.info.artifact_uri).delete_artifacts("sub/gone.txt")
    after = [f.path for f in mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="sub")]
    return {
        "experiment": experiment.experiment_id,
        "run": run_id,
        "artifact_uri": run.info.artifact_uri,
        "listed": sorted(listed),
        "downloaded": Path(downloaded).read_text(),
        "after_delete": after,
    }


if __name__ == "__main__":
    workdir = Path(sys.argv[1])
    print(json.dumps({ws: session(workdir, ws) for ws in sys.argv[2:]}))
