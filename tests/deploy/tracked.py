"""A tracked run through a gateway in front of a tracking server (deployment A), stock client.

Metadata (experiment, run, params, metrics) is passed through to the tracking server; the run's
artifacts (`mlflow-artifacts:/...`) are carried by the gateway into the bucket. Both are checked:
the run read back through the gateway, every artifact's SHA-256 after a download, and the
objects found in the bucket under the gateway's prefix.
"""

from __future__ import annotations

from pathlib import Path

from tests.deploy.flow import MIB, make_file, sha256_of
from tests.helpers.stack import BUCKET, admin_client


def tracked_run(url: str, endpoint: str, workdir: Path) -> dict:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"kube-sidecar-{workdir.parent.name}")
    run = client.create_run(experiment)
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "loss", 0.25, step=1)
    files = [make_file(workdir / "up", size, seed) for seed, size in ((11, 4096), (12, 9 * MIB))]
    for path, _ in files:
        client.log_artifact(run_id, str(path), "model")
    client.set_terminated(run_id)

    back = client.get_run(run_id)
    assert back.data.params == {"alpha": "0.5"} and back.data.metrics == {"loss": 0.25}
    assert back.info.status == "FINISHED", back.info.status
    assert back.info.artifact_uri.startswith("mlflow-artifacts:/"), back.info.artifact_uri
    listed = sorted(f.path for f in client.list_artifacts(run_id, "model"))
    assert listed == sorted(f"model/{path.name}" for path, _ in files), listed
    for path, digest in files:
        local = client.download_artifacts(run_id, f"model/{path.name}", str(workdir / "down"))
        assert sha256_of(local) == digest, path.name
    keys = [
        o["Key"]
        for o in admin_client(endpoint)
        .list_objects_v2(Bucket=BUCKET, Prefix=f"kube/{experiment}/{run_id}/")
        .get("Contents", [])
    ]
    assert len(keys) == len(files), keys
    return {
        "experiment": experiment,
        "params_metrics_status": "read back through the gateway",
        "artifacts": f"{len(files)} (4 KiB, 9 MiB multipart), SHA-256 equal, in the bucket",
    }
