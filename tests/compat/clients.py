"""One venv per stock MLflow client version, built once and cached across runs.

Built with uv (the `uv` wheel from PyPI, in the test extra): about 10 s per venv from an empty
cache where pip took 45-60 s, which keeps the matrix inside its time budget on a fresh machine.

`~/.cache/mlflow-artifact-gateway-tests/clients/<version>-<hash of the recipe>` holds a venv
whose `.complete` file is written last; a venv without it, or whose interpreter no longer
imports the expected MLflow, is removed and built again. A lock file serialises builds of the
same venv between concurrent test runs on one machine. Every command has a timeout.

The recipes (pins found on Python 3.11, see tests/compat/README.md):

- 2.9.2: its own metadata already caps numpy<2, protobuf<5, pyarrow<15, packaging<24. It
  imports `pkg_resources`, which a uv venv lacks: setuptools<70. pandas<2.2 and
  scikit-learn<1.4 keep the libraries of its time (the flow here also passed with the
  unpinned pandas 2.3.3 / scikit-learn 1.9.1, so they are not strictly needed).
- 2.22.5: installs as it is.
- 3.18.0: `pip install mlflow==3.18.0` fails (its `mlflow-skinny==3.18.0` and
  `mlflow-tracing==3.18.0` are not on the registry), so 3.17.2 brings the dependencies (with
  the `[auth]` extra's Flask-WTF, for `--app-name basic-auth`) and the 3.18.0 wheel is laid
  over it with `--no-deps`; the wheel carries the whole `mlflow` package.
- 3.17.2: the suite's own venv (`sys.executable`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path(
    os.environ.get(
        "GATEWAY_TEST_CLIENTS_CACHE",
        Path.home() / ".cache" / "mlflow-artifact-gateway-tests" / "clients",
    )
)
SUITE_VERSION = "3.17.2"
RECIPES: dict[str, list[list[str]]] = {
    "2.9.2": [["mlflow==2.9.2", "numpy<2", "pandas<2.2", "scikit-learn<1.4", "setuptools<70"]],
    "2.22.5": [["mlflow==2.22.5", "scikit-learn"]],
    "3.18.0": [["mlflow[auth]==3.17.2", "scikit-learn"], ["--no-deps", "mlflow==3.18.0"]],
}
VERSIONS = ("2.9.2", "2.22.5", SUITE_VERSION, "3.18.0")
PIP_TIMEOUT = 300.0
CHECK_TIMEOUT = 120.0
_CHECK = "import json, mlflow, sklearn, numpy, pandas; print(json.dumps(mlflow.__version__))"


@dataclass(frozen=True)
class ClientVenv:
    version: str
    python: Path
    build_seconds: float | None = None  # None: the suite's own venv, or found in the cache

    @property
    def bin(self) -> Path:
        return self.python.parent


def recipe_key(version: str) -> str:
    recipe = {"recipe": RECIPES[version], "python": sys.version_info[:2], "installer": "uv"}
    text = json.dumps(recipe, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:12]


def venv_dir(version: str) -> Path:
    return CACHE_ROOT / f"{version}-{recipe_key(version)}"


def _run(argv: list[str], timeout: float, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            env=_pip_env(),
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{argv[0]} exited {result.returncode}:\n{tail}")


def uv() -> str:
    beside_python = Path(sys.executable).with_name("uv")
    found = str(beside_python) if beside_python.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: install the test extra")
    return found


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class CheckTimedOut(Exception):
    """The import check did not finish: a loaded machine, not a broken venv."""


def installed_version(python: Path, timeout: float = CHECK_TIMEOUT) -> str | None:
    """The MLflow version this interpreter imports, or None when the venv is broken.

    A check that times out raises CheckTimedOut: deleting a good venv for it would only make
    the next step (a rebuild) slower still on the same loaded machine."""
    try:
        result = subprocess.run(
            [str(python), "-c", _CHECK],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=_pip_env(),
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckTimedOut(f"{python}: no answer within {timeout:.0f} s") from exc
    except OSError:
        return None
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _cached_version(python: Path) -> str | None:
    """A verified venv is checked again with more time, not rebuilt, when the check is slow."""
    try:
        return installed_version(python)
    except CheckTimedOut:
        return installed_version(python, CHECK_TIMEOUT * 4)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(version: str) -> ClientVenv:
    """The cached venv for `version`, built (or rebuilt when broken) if needed."""
    if version == SUITE_VERSION:
        return ClientVenv(version, Path(sys.executable))
    target = venv_dir(version)
    python = target / "bin" / "python"
    with _locked(target.with_name(target.name + ".lock")):
        if (target / ".complete").exists() and _cached_version(python) == version:
            return ClientVenv(version, python)
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        target.parent.mkdir(parents=True, exist_ok=True)
        log = target.with_name(target.name + ".build.log")
        log.write_text("")
        _run([uv(), "venv", "-q", "--python", sys.executable, str(target)], 120.0, log)
        for step in RECIPES[version]:
            install = [uv(), "pip", "install", "-q", "--python", str(python), *step]
            _run(install, PIP_TIMEOUT, log)
        found = installed_version(python, CHECK_TIMEOUT * 4)
        if found != version:
            raise RuntimeError(f"venv for {version} imports mlflow {found}; see {log}")
        (target / ".complete").write_text(json.dumps(RECIPES[version]))
        return ClientVenv(version, python, time.monotonic() - started)


_BUILDS = concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="client-venv")
_PREFETCHED: dict[str, concurrent.futures.Future[ClientVenv]] = {}


def prefetch() -> dict[str, concurrent.futures.Future[ClientVenv]]:
    """Every version's venv, built in the background from the first call on: the suite starts
    this as soon as it has collected a compat test, so the builds overlap the tests before."""
    for version in VERSIONS:
        if version not in _PREFETCHED:
            _PREFETCHED[version] = _BUILDS.submit(ensure, version)
    return _PREFETCHED
