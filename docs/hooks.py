"""mkdocs hook: serve result plots that live beside the code that makes them.

The benchmark and soak plots are written into `tests/` by their harnesses
(`python -m tests.benchmarks`, `python -m tests.soak`); `docs_dir` cannot reach outside
`docs/`, so rather than commit a second copy of each PNG, the build adds them as generated
files (`File.generated`, mkdocs 1.6) under `img/`, where the pages link to them and
`--strict` checks those links.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PLOTS = {
    "img/throughput.png": "tests/benchmarks/results/throughput.png",
    "img/concurrency.png": "tests/benchmarks/results/concurrency.png",
    "img/rate.png": "tests/benchmarks/results/rate-quiet/rate.png",
    "img/proxies.png": "tests/benchmarks/results/rate-quiet/proxies-reps5/proxies.png",
    "img/soak.png": "tests/soak/results/soak.png",
}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add each plot; a missing one fails the build instead of leaving a broken image."""
    root = Path(config.config_file_path).parent
    for uri, source in PLOTS.items():
        path = root / source
        if not path.is_file():
            raise FileNotFoundError(f"docs plot {source} is missing: re-run its harness")
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
