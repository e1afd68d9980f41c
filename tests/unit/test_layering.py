"""Imports point down: a module imports its own package or a unit on a lower layer, never up.

A unit is a package or a top-level module of `gateway/`. Imports inside functions and under
`TYPE_CHECKING` count too: they are arrows a reader has to follow all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
# The layer order, top to bottom; units on one line do not import each other.
LAYERS = [
    "__main__",
    "cli",
    "http",
    "links",
    "upstream",
    "routing",
    "stores",
    "forwarded",  # reads the networks that config parses (config.parse_networks)
    "config",  # imports each section's model from the package that owns it (auth.config)
    "auth",
    "logs metrics error_classes paths mime tenancy",
    "errors experiments redact",
    "__init__",  # gateway/__init__.py: __version__
]
LEVEL = {unit: level for level, line in enumerate(LAYERS) for unit in line.split()}


def unit_of(module: str) -> str:
    """`gateway.http.routes.health` -> `http`; `gateway.__version__` -> `__init__`."""
    name = [*module.split("."), "__init__"][1]
    is_unit = (GATEWAY / name).is_dir() or (GATEWAY / f"{name}.py").is_file()
    return name if is_unit else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, `gateway.…` name) for every import, absolute or relative, anywhere in the file."""
    package = ".".join(path.relative_to(GATEWAY.parent).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) + 1 - node.level]
            source = ".".join([*base, node.module or ""]) if node.level else node.module or ""
            found += [(node.lineno, f"{source.strip('.')}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "gateway"]


def test_every_unit_has_a_layer():
    units = {path.stem for path in GATEWAY.glob("*.py")} | {
        path.parent.name for path in GATEWAY.glob("*/__init__.py")
    }
    assert sorted(units - LEVEL.keys()) == [] and sorted(LEVEL.keys() - units) == []


def test_imports_point_down():
    upward = []
    for path in sorted(GATEWAY.rglob("*.py")):
        importer = unit_of(".".join(path.relative_to(GATEWAY.parent).with_suffix("").parts))
        for line, name in imports(path):
            target = unit_of(name)
            if target != importer and LEVEL[target] <= LEVEL[importer]:
                where = path.relative_to(GATEWAY.parent)
                upward.append(f"{where}:{line}: {importer} imports {name} ({target} is not below)")
    assert not upward, "upward imports:\n" + "\n".join(upward)
