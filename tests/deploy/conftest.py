"""Rendered overlays, once per session: `kubectl kustomize` of each, offline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.helpers import KUBERNETES, OVERLAYS, kustomize


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, list[dict[str, Any]]]:
    home = tmp_path_factory.mktemp("kubectl-home")
    return {name: kustomize(KUBERNETES / "overlays" / name, home) for name in OVERLAYS}
