"""The docs site builds with `mkdocs build --strict`: a broken link or anchor, a page left out of
`nav`, a missing plot or included file fails here, not on a reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path: Path) -> None:
    # NO_MKDOCS_2_WARNING: Material prints a notice about MkDocs 2 on every build; not a warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    # Content made it through: a table from a page, one included from tests/, and a plot.
    assert "<table>" in (tmp_path / "security" / "index.html").read_text()
    reliability = (tmp_path / "reliability" / "index.html").read_text()
    assert "test_kill_tracking_server_mid_passthrough_then_restart" in reliability
    assert (tmp_path / "img" / "throughput.png").stat().st_size > 0
