"""The request-rate and proxy tables of results.md, and rate.png: the C proxies are columns
here, beside direct S3 and the gateway (the main table's columns are the HTTP servers)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.options import format_size
from tests.benchmarks.report import Summary, _cell, _ratio

COLUMNS = ("direct", "haproxy", "nginx", "gateway")
LABELS = {"rate_get": "GET", "rate_put": "PUT", "rate_head": "HEAD (ab -k)", "rate_list": "listing"}
SUFFIXES = {
    "": "req/s",
    "_p50": "p50 ms",
    "_p99": "p99 ms",
    "_cpu": "gateway CPU µs/req",
    "_sys": "of it in the kernel, µs/req",
}


def _rows(summaries: dict[tuple, dict[str, Summary]], prefix: str) -> list[tuple]:
    return sorted(
        (key for key in summaries if key[0].startswith(prefix)),
        key=lambda k: (list(LABELS).index(_base(k[0])) if _base(k[0]) in LABELS else 9, k),
    )


def _base(metric: str) -> str:
    for suffix in ("_p50", "_p99", "_cpu", "_sys"):
        if metric.endswith(suffix):
            return metric.removesuffix(suffix)
    return metric


def markdown(summaries: dict[tuple, dict[str, Summary]], units: dict[str, str]) -> str:
    """Two tables (empty string when neither workload ran)."""
    out: list[str] = []
    rate_rows = _rows(summaries, "rate_")
    header = [*COLUMNS[:2], COLUMNS[3], "gateway/direct", "gateway/haproxy"]
    if rate_rows:
        out += ["", "## Request rate (wrk -t2; HEAD: ab -k -i; 4 KiB object)", ""]
        out += ["| Operation | Unit | " + " | ".join(header) + " |", "|" + "---|" * 7]
        for metric, params in rate_rows:
            row, shown = summaries[(metric, params)], dict(params)
            label = f"{LABELS[_base(metric)]}, c={shown.get('concurrency')}"
            unit = SUFFIXES[metric.removeprefix(_base(metric))]
            cells = [_cell(row.get(t), units[metric]) for t in ("direct", "haproxy", "gateway")]
            cells += [_ratio(row.get("gateway"), row.get(t)) for t in ("direct", "haproxy")]
            out.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    proxy_rows = _rows(summaries, "proxy_")
    if proxy_rows:
        out += ["", "## One download, curl as the client (wall seconds; ratio to direct)", ""]
        out += ["| Size | " + " | ".join(COLUMNS) + " |", "|" + "---|" * 5]
        for metric, params in proxy_rows:
            row = summaries[(metric, params)]
            cells = [
                f"{_cell(row.get(t), units[metric])} ({_ratio(row.get(t), row.get('direct'))}x)"
                for t in COLUMNS
            ]
            out.append(f"| {format_size(dict(params)['size'])} | " + " | ".join(cells) + " |")
    return "\n".join(out) + ("\n" if out else "")


def plot_rate(summaries: dict[tuple, dict[str, Summary]], path: Path) -> Path | None:
    """Requests/s per operation, one bar per target; None when `rate` did not run."""
    rows = [k for k in _rows(summaries, "rate_") if k[0] in LABELS]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = ("direct", "haproxy", "gateway")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        values = [summaries[k].get(target) for k in rows]
        heights = [v.median if v and v.median is not None else 0 for v in values]
        ax.bar([x + i * width for x in range(len(rows))], heights, width, label=target)
    labels = [f"{LABELS[m]} c={dict(p).get('concurrency')}" for m, p in rows]
    ax.set_xticks([x + width for x in range(len(rows))], labels)
    return _finish(
        fig, ax, "requests/s (median)", "4 KiB request rate, wrk -t2 (HEAD: ab -k)", path
    )


def plot_proxies(summaries: dict[tuple, dict[str, Summary]], path: Path) -> Path | None:
    """One curl download per size through each target, as its time over direct's; None when
    `proxies` did not run."""
    rows = _rows(summaries, "proxy_")
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(COLUMNS)
    for i, target in enumerate(COLUMNS):
        heights = []
        for key in rows:
            value, direct = summaries[key].get(target), summaries[key].get("direct")
            ok = value and direct and value.median and direct.median
            heights.append(value.median / direct.median if ok else 0)
        ax.bar([x + i * width for x in range(len(rows))], heights, width, label=target)
    ax.set_xticks(
        [x + 1.5 * width for x in range(len(rows))],
        [format_size(dict(p)["size"]) for _, p in rows],
    )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    title = "One download, curl as the client (lower is better)"
    return _finish(fig, ax, "wall time / direct's (median)", title, path)


def _finish(fig, ax, ylabel: str, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
