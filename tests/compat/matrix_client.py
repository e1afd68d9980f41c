"""A stock MLflow user's session, run by the interpreter of one client version's own venv.

`python matrix_client.py '<json>'` with MLFLOW_TRACKING_URI set; prints one JSON object as the
last line of stdout. It imports nothing from this repository: it runs under MLflow 2.9.2 to
3.18.0 with whatever numpy / pandas / scikit-learn that version's venv holds.

Modes (`mode` in the JSON):
- `flow`: log_artifact / log_artifacts, list, download, a scikit-learn model logged, registered
  and loaded back from `models:/<name>/1`, and the CLI: `mlflow artifacts list`,
  `mlflow artifacts download` and `mlflow experiments search` through MLflow's click group in
  this process; with `cli_subprocess` the listing runs as typed, in a new interpreter.
- `multipart`: one file through the client's proxied multipart upload (and, where the version
  has it, its ranged multipart download), with SHA-256 of both ends and what the client sent.
- `repo_upload`: `log_artifact` through `get_artifact_repository(<artifact_uri>)` only (no
  tracking server), with or without multipart; reports the error instead of raising.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

MIB = 1024 * 1024


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def random_file(path: Path, size: int, seed: int) -> str:
    """Deterministic, incompressible bytes: SHA-256 chained blocks."""
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    written = 0
    with path.open("wb") as file:
        while written < size:
            block = hashlib.sha256(block[:64]).digest() * 2048
            piece = block[: size - written]
            file.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def major() -> int:
    import mlflow

    return int(mlflow.__version__.split(".")[0])


def cli(*args: str) -> str:
    """The `mlflow` command's own click group, run in this process (a new interpreter per
    command costs 10-15 s of imports on the shared machine); returns what it printed."""
    from click.testing import CliRunner
    from mlflow.cli import cli as mlflow_cli

    result = CliRunner().invoke(mlflow_cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"mlflow {' '.join(args)} exited {result.exit_code}: {result.output}")
    return result.output


def cli_process(*args: str) -> str:
    """The `mlflow` command as a user types it, in a new interpreter of this venv."""
    result = subprocess.run(
        [sys.executable, "-m", "mlflow", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mlflow {' '.join(args)} failed: {result.stderr[-3000:]}")
    return result.stdout


def flow(config: dict) -> dict:
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LinearRegression

    work = Path(config["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    mlflow.set_experiment(config["experiment"])
    single = work / "notes.txt"
    single.write_text(f"logged by mlflow {mlflow.__version__}\n")
    tree = work / "tree"
    (tree / "sub").mkdir(parents=True, exist_ok=True)
    (tree / "a.csv").write_text("x,y\n1,2\n")
    (tree / "sub" / "b.json").write_text('{"b": 1}')
    weights = work / "weights.bin"
    weights_sha = random_file(weights, 300 * 1024 + 17, seed=1)

    features = np.arange(40, dtype=float).reshape(20, 2)
    target = features @ np.array([1.5, -2.0]) + 3.0
    model = LinearRegression().fit(features, target)
    with mlflow.start_run() as run:
        mlflow.log_param("client", mlflow.__version__)
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(weights), "data")
        mlflow.log_artifacts(str(tree), "tree")
        # No requirement inference (a subprocess per model): the versions stay comparable.
        kwargs = {"pip_requirements": ["scikit-learn"]}
        if major() >= 3:
            info = mlflow.sklearn.log_model(model, name="model", **kwargs)
        else:
            info = mlflow.sklearn.log_model(model, artifact_path="model", **kwargs)
    run_id = run.info.run_id
    client = MlflowClient()
    version = mlflow.register_model(info.model_uri, config["model_name"])
    registered = mlflow.pyfunc.load_model(f"models:/{config['model_name']}/{version.version}")

    downloads = work / "downloads"
    downloads.mkdir(exist_ok=True)
    tree_back = Path(client.download_artifacts(run_id, "tree", str(downloads)))
    weights_back = client.download_artifacts(run_id, "data/weights.bin", str(downloads))

    list_args = ("artifacts", "list", "--run-id", run_id)
    typed = config.get("cli_subprocess", False)
    cli_list = json.loads(cli_process(*list_args) if typed else cli(*list_args))
    cli_dst = work / "cli-download"
    cli_dst.mkdir(exist_ok=True)
    cli_download = cli(
        "artifacts",
        "download",
        "--run-id",
        run_id,
        "--artifact-path",
        "notes.txt",
        "--dst-path",
        str(cli_dst),
    )
    downloaded_path = cli_download.strip().splitlines()[-1]
    experiments = cli("experiments", "search")

    return {
        "version": mlflow.__version__,
        "run_id": run_id,
        "experiment_id": run.info.experiment_id,
        "artifact_uri": client.get_run(run_id).info.artifact_uri,
        "root": sorted(f.path for f in client.list_artifacts(run_id)),
        "tree": sorted(
            (f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "tree")
        ),
        "tree_sub": sorted(f.path for f in client.list_artifacts(run_id, "tree/sub")),
        "tree_back": sorted(
            str(p.relative_to(tree_back)) for p in tree_back.rglob("*") if p.is_file()
        ),
        "tree_back_csv": (tree_back / "a.csv").read_text(),
        "weights_sha": weights_sha,
        "weights_back_sha": sha256_file(weights_back),
        "model_uri": info.model_uri,
        "registered_version": str(version.version),
        "expected": model.predict(features[:3]).tolist(),
        "predicted_registered": np.asarray(registered.predict(features[:3])).tolist(),
        "cli_list": sorted(f["path"] for f in cli_list),
        "cli_downloaded": Path(downloaded_path).read_text(),
        "cli_experiments": experiments,
    }


def multipart(config: dict) -> dict:
    """One file of `size` bytes through the client's own multipart paths, recorded."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    seen: dict[str, list] = {"create": [], "presigned": []}
    create = HttpArtifactRepository.create_multipart_upload

    def recording_create(self, local_file, num_parts=1, artifact_path=None):
        seen["create"].append({"num_parts": num_parts, "artifact_path": artifact_path})
        return create(self, local_file, num_parts, artifact_path)

    HttpArtifactRepository.create_multipart_upload = recording_create
    presigned = getattr(HttpArtifactRepository, "_get_presigned_download_url", None)
    if presigned is not None:

        def recording_presigned(self, remote_file_path):
            answer = presigned(self, remote_file_path)
            seen["presigned"].append({"path": remote_file_path, "url": answer.url})
            return answer

        HttpArtifactRepository._get_presigned_download_url = recording_presigned

    work = Path(config["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    source = work / "big.bin"
    digest = random_file(source, config["size"], seed=2)
    mlflow.set_experiment(config["experiment"])
    with mlflow.start_run() as run:
        error = None
        try:
            mlflow.log_artifact(str(source), config.get("artifact_path"))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    client = MlflowClient()
    result = {
        "version": mlflow.__version__,
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "artifact_uri": client.get_run(run.info.run_id).info.artifact_uri,
        "sha": digest,
        "error": error,
        "listed": sorted(f.path for f in _walk(client, run.info.run_id, "")),
        "download_supported": presigned is not None,
    }
    if error is None and result["listed"]:
        back = work / "back"
        back.mkdir(exist_ok=True)
        target = f"{config['artifact_path']}/big.bin" if config.get("artifact_path") else "big.bin"
        if target in result["listed"]:
            result["back_sha"] = sha256_file(
                client.download_artifacts(run.info.run_id, target, str(back))
            )
    result["seen"] = seen
    return result


def _walk(client, run_id: str, path: str):
    for info in client.list_artifacts(run_id, path or None):
        if info.is_dir:
            yield from _walk(client, run_id, info.path)
        else:
            yield info


def repo_upload(config: dict) -> dict:
    import mlflow
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    work = Path(config["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    source = work / config.get("file_name", "big.bin")
    digest = random_file(source, config["size"], seed=3)
    repo = get_artifact_repository(config["artifact_uri"])
    error = None
    try:
        repo.log_artifact(str(source), config.get("artifact_path"))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"version": mlflow.__version__, "sha": digest, "error": error}


def main() -> None:
    config = json.loads(sys.argv[1])
    for name, value in config.get("env", {}).items():
        os.environ[name] = value
    mode = {"flow": flow, "multipart": multipart, "repo_upload": repo_upload}[config["mode"]]
    print(json.dumps(mode(config)))


if __name__ == "__main__":
    main()
