"""The test tree's rule: shared code lives in tests/helpers (or a scenario's own helper module),
so no module imports a test module or a conftest. pytest loads those itself; importing one runs
its fixtures' module twice under two names and hides where a helper really lives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def _forbidden(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module.split(".", 1)[0] == "tests" and (last == "conftest" or last.startswith("test_"))


def imported_test_modules(source: str) -> list[str]:
    """Every `tests.` module named by an import in `source` that is a test module or conftest."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _forbidden(node.module):
                found.append(node.module)
            # `from tests.x import test_y` imports the module test_y itself
            found += [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _forbidden(f"{node.module}.{alias.name}")
            ]
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tests.test_config import run_cli", ["tests.test_config"]),
        ("from tests.multipart.conftest import MIB", ["tests.multipart.conftest"]),
        ("import tests.conftest", ["tests.conftest"]),
        ("from tests.faults import test_proxy", ["tests.faults.test_proxy"]),
        ("def f():\n    from tests.test_routing import login", ["tests.test_routing"]),
        ("from tests.helpers.cli import run_cli", []),
        ("from tests.faults import harness", []),
        ("from gateway.test_utils import x", []),
    ],
)
def test_the_check_sees_every_form_of_import(source, expected):
    assert imported_test_modules(source) == expected


def test_no_module_imports_a_test_module_or_a_conftest():
    offenders = {
        str(path.relative_to(TESTS.parent)): names
        for path in sorted(TESTS.rglob("*.py"))
        if (names := imported_test_modules(path.read_text()))
    }
    assert offenders == {}
