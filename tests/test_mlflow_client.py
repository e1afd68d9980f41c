"""The real MLflow client drives the gateway through both of its artifact repositories."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

from tests.helpers.stack import Gateway
from tests.helpers.storage import stored_bytes


@pytest.fixture(params=["mlflow-artifacts", "http"])
def repo(request, gateway: Gateway, exp: str, monkeypatch):
    """A run's artifact repository pointed at the gateway, in both URI forms."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gateway.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    run_root = f"{exp}/0123abcd/artifacts"
    if request.param == "mlflow-artifacts":
        host = gateway.url.removeprefix("http://")
        return MlflowArtifactsRepository(f"mlflow-artifacts://{host}/{run_root}"), run_root
    return HttpArtifactRepository(f"{gateway.api}/{run_root}"), run_root


def make_tree(root: Path) -> Path:
    (root / "model" / "data").mkdir(parents=True)
    (root / "model" / "MLmodel").write_text("flavors: {}\n")
    (root / "model" / "data" / "weights.bin").write_bytes(os.urandom(300_000))
    (root / "model" / "data" / "empty.txt").write_bytes(b"")
    (root / "notes.md").write_text("# notes\n")
    return root


def test_log_list_download_delete(repo, gateway, s3, tmp_path):
    repository, run_root = repo
    single = tmp_path / "metrics.json"
    single.write_text('{"acc": 0.9}')
    repository.log_artifact(str(single))
    repository.log_artifact(str(single), "reports/json")
    tree = make_tree(tmp_path / "tree")
    repository.log_artifacts(str(tree), "bundle")

    assert [(f.path, f.is_dir) for f in repository.list_artifacts()] == [
        ("bundle", True),
        ("metrics.json", False),
        ("reports", True),
    ]
    model = repository.list_artifacts("bundle/model")
    assert [(f.path, f.is_dir, f.file_size) for f in model] == [
        ("bundle/model/MLmodel", False, 12),
        ("bundle/model/data", True, None),
    ]
    assert repository.list_artifacts("metrics.json") == []

    expected = {
        "metrics.json": single.read_bytes(),
        "reports/json/metrics.json": single.read_bytes(),
        "bundle/model/MLmodel": b"flavors: {}\n",
        "bundle/model/data/weights.bin": (tree / "model/data/weights.bin").read_bytes(),
        "bundle/model/data/empty.txt": b"",
        "bundle/notes.md": b"# notes\n",
    }
    for path, data in expected.items():
        assert stored_bytes(gateway, s3, f"{run_root}/{path}") == data, path

    (tmp_path / "out").mkdir()
    (tmp_path / "one").mkdir()
    out = Path(repository.download_artifacts("bundle", dst_path=str(tmp_path / "out")))
    comparison = filecmp.dircmp(tree, out)
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    assert filecmp.cmp(
        tree / "model/data/weights.bin", out / "model/data/weights.bin", shallow=False
    )
    one = repository.download_artifacts("reports/json/metrics.json", dst_path=str(tmp_path / "one"))
    assert Path(one).read_bytes() == single.read_bytes()

    repository.delete_artifacts("bundle/model")
    assert [f.path for f in repository.list_artifacts("bundle")] == ["bundle/notes.md"]
    assert stored_bytes(gateway, s3, f"{run_root}/bundle/model/MLmodel") is None
    repository.delete_artifacts()
    assert repository.list_artifacts() == []
    assert stored_bytes(gateway, s3, f"{run_root}/metrics.json") is None


def test_missing_artifact_raises_a_clean_error(repo, tmp_path):
    repository, _ = repo
    with pytest.raises(Exception, match=r"RESOURCE_DOES_NOT_EXIST|404"):
        repository.download_artifacts("nope.txt", dst_path=str(tmp_path))
