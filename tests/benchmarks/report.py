"""Turn samples into results.json (everything) and results.md (medians, ranges, ratios)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.options import Options, format_size
from tests.benchmarks.presigned import METRICS as PRESIGNED_METRICS
from tests.benchmarks.workloads import Sample

MiB = 1024**2
# Metric id -> (label, True when higher is better). Order here is the order of the table.
METRICS = {
    "idle_rss": ("Idle RSS (process tree) at start", False),
    "idle_rss_after": ("Idle RSS (process tree) after the run", False),
    "large_upload": ("Large upload, wall time", False),
    "large_upload_peak_rss": ("Large upload, peak RSS", False),
    "large_upload_peak_tmp": ("Large upload, peak temp disk", False),
    "large_download_ttfb": ("Large download, time to first byte", False),
    "large_download": ("Large download, wall time", False),
    "large_download_peak_rss": ("Large download, peak RSS", False),
    "large_download_peak_tmp": ("Large download, peak temp disk", False),
    "small_put": ("Small PUT rate", True),
    "small_get": ("Small GET rate", True),
    "client_log_artifact": ("MLflow client log_artifact", False),
    "client_download_artifacts": ("MLflow client download_artifacts", False),
    "client_peak_rss": ("MLflow client path, peak RSS", False),
    "client_peak_tmp": ("MLflow client path, peak temp disk", False),
    "throughput_put": ("Throughput PUT", True),
    "throughput_get": ("Throughput GET", True),
    "concurrent_put": ("Concurrent PUT, aggregate", True),
    "concurrent_put_peak_rss": ("Concurrent PUT, peak RSS", False),
    "concurrent_put_peak_tmp": ("Concurrent PUT, peak temp disk", False),
    "concurrent_get": ("Concurrent GET, aggregate", True),
    "concurrent_get_peak_rss": ("Concurrent GET, peak RSS", False),
    "concurrent_get_peak_tmp": ("Concurrent GET, peak temp disk", False),
    **PRESIGNED_METRICS,
    "concurrent_budget_bound": ("Concurrent, budget + idle + margin (bound on peak RSS)", False),
    "concurrent_disk_added": ("Concurrent, SeaweedFS data after the PUTs", False),
    "concurrent_disk_after_vacuum": ("Concurrent, SeaweedFS data after delete + vacuum", False),
    "manyfiles_log_artifacts": ("Many files, log_artifacts", False),
    "manyfiles_log_rate": ("Many files, log_artifacts rate", True),
    "manyfiles_download_artifacts": ("Many files, download_artifacts", False),
    "manyfiles_download_rate": ("Many files, download_artifacts rate", True),
    "manyfiles_peak_rss": ("Many files, peak RSS", False),
    "manyfiles_peak_tmp": ("Many files, peak temp disk", False),
    "listing_create": ("Big listing, creating the entries in SeaweedFS", False),
    "listing_idle_rss": ("Big listing, RSS before listing", False),
    "listing": ("Big listing, one GET of the directory", False),
    "listing_peak_rss": ("Big listing, peak RSS", False),
    "listing_peak_tmp": ("Big listing, peak temp disk", False),
}
SHOWN_PARAMS = ("size", "concurrency", "files", "entries")


@dataclass(frozen=True)
class Summary:
    median: float | None
    low: float | None
    high: float | None
    n: int
    errors: int


def _group_key(sample: Sample) -> tuple:
    shown = {k: v for k, v in sample.params.items() if k in SHOWN_PARAMS}
    return sample.metric, tuple(sorted(shown.items()))


def summarise(samples: list[Sample]) -> dict[tuple, dict[str, Summary]]:
    """(metric, params) -> target -> median/min/max over successful reps, errors counted."""
    grouped: dict[tuple, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        grouped[_group_key(sample)][sample.target].append(sample)
    out: dict[tuple, dict[str, Summary]] = {}
    for key, by_target in grouped.items():
        out[key] = {}
        for target, items in by_target.items():
            values = [s.value for s in items if s.value is not None]
            errors = sum(1 for s in items if s.error)
            if values:
                out[key][target] = Summary(
                    statistics.median(values), min(values), max(values), len(values), errors
                )
            else:
                out[key][target] = Summary(None, None, None, 0, errors)
    return out


def _scale(unit: str) -> tuple[float, str]:
    return (MiB, "MiB") if unit == "bytes" else (1.0, unit)


def _number(value: float) -> str:
    """Three significant digits without scientific notation: 3,410 not 3.41e+03."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cell(summary: Summary | None, unit: str) -> str:
    if summary is None:
        return "n/a"
    if summary.median is None:
        return f"**error** ({summary.errors})"
    factor, _ = _scale(unit)
    text = _number(summary.median / factor)
    if summary.n > 1:
        text += f" ({_number(summary.low / factor)}-{_number(summary.high / factor)})"
    if summary.errors:
        text += f" **+{summary.errors} err**"
    return text


def _ratio(a: Summary | None, b: Summary | None) -> str:
    if not a or not b or a.median is None or b.median is None or b.median == 0:
        return "n/a"
    return f"{a.median / b.median:.2f}"


def _label(metric: str, params: tuple) -> str:
    label = METRICS.get(metric, (metric, False))[0]
    for name, value in params:
        if name in ("files", "entries"):
            label += f", {value:,} {name}"
        else:
            label += f", {format_size(value)}" if name == "size" else f", c={value}"
    return label


def markdown(
    summaries: dict[tuple, dict[str, Summary]],
    units: dict[str, str],
    targets: tuple[str, ...],
    opts: Options,
    machine: dict,
) -> str:
    order = list(METRICS)
    shown = [key for key in summaries if not key[0].startswith(("rate_", "proxy_"))]
    keys = sorted(shown, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
    header = ["Metric", "Unit", *targets]
    ratios = [
        ("gateway", other)
        for other in ("reference", "direct")
        if "gateway" in targets and other in targets
    ]
    header += [f"{a}/{b}" for a, b in ratios] + ["Better"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        metric, params = key
        unit = _scale(units[metric])[1]
        row = summaries[key]
        better = "higher" if METRICS.get(metric, ("", False))[1] else "lower"
        cells = [_label(metric, params), unit, *(_cell(row.get(t), units[metric]) for t in targets)]
        cells += [_ratio(row.get(a), row.get(b)) for a, b in ratios] + [better]
        lines.append("| " + " | ".join(cells) + " |")
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    intro = [
        "# Artifact gateway benchmark",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_bytes'] / 1024**3:.1f} GiB, Python {machine['python']}; {packages}; "
        f"SeaweedFS {machine.get('seaweedfs') or '?'}.",
        f"Run: {opts.reps} rep(s) interleaved per target; large = {format_size(opts.size)}, "
        f"client path = {format_size(opts.client_size)}, small = {opts.small_ops} ops of "
        f"{format_size(opts.small_size)}.",
        "",
        "Cells: median (min-max) over repetitions. Ratios: gateway median / other median; "
        "'Better' says which direction is good for the gateway. RSS is summed over the "
        "server's process tree (shared pages counted per process); direct has no server.",
        "",
    ]
    return "\n".join(intro + lines) + "\n"


def write(
    out: Path, samples: list[Sample], opts: Options, machine: dict, started: str, elapsed: float
) -> dict[tuple, dict[str, Summary]]:
    """Write results.json and results.md into `out`; return the summaries for the plot."""
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarise(samples)
    units = {s.metric: s.unit for s in samples}
    document = {
        "started": started,
        "elapsed_s": round(elapsed, 1),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
        "machine": machine,
        "samples": [s.as_dict() for s in samples],
    }
    (out / "results.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (out / "results.md").write_text(markdown(summaries, units, opts.servers, opts, machine))
    return summaries
