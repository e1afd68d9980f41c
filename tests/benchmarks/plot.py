"""throughput.png: MiB/s against object size, one line per target, min-max as error bars."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.options import format_size
from tests.benchmarks.report import Summary

COLORS = {"gateway": "tab:blue", "reference": "tab:orange", "direct": "tab:green"}


def plot_throughput(
    summaries: dict[tuple, dict[str, Summary]], targets: tuple[str, ...], path: Path
) -> Path | None:
    """Draw PUT and GET side by side; returns None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    panels = [("throughput_put", "PUT (upload)"), ("throughput_get", "GET (download)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    drawn = False
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for target in targets:
            points = sorted(
                (dict(params)["size"], row[target])
                for (name, params), row in summaries.items()
                if name == metric and target in row and row[target].median is not None
            )
            if not points:
                continue
            sizes = [size for size, _ in points]
            medians = [s.median for _, s in points]
            errs = [[s.median - s.low for _, s in points], [s.high - s.median for _, s in points]]
            ax.errorbar(
                sizes,
                medians,
                yerr=errs,
                marker="o",
                capsize=3,
                label=target,
                color=COLORS.get(target),
            )
            drawn = True
        ax.set_xscale("log", base=2)
        sizes_seen = sorted({dict(p)["size"] for (n, p) in summaries if n == metric})
        ax.set_xticks(sizes_seen, [format_size(s) for s in sizes_seen])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.set_xlabel("object size")
        ax.grid(True, alpha=0.3)
    for ax in axes:
        ax.set_ylabel("MiB/s (median, min-max)")
    axes[0].legend()
    fig.suptitle("Artifact throughput against object size")
    fig.tight_layout()
    if drawn:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path if drawn else None


def plot_concurrency(
    summaries: dict[tuple, dict[str, Summary]], targets: tuple[str, ...], path: Path
) -> Path | None:
    """concurrency.png: aggregate MiB/s and peak RSS per target for the `concurrent` workload,
    the budget bound drawn across the RSS panel; None when the workload did not run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def medians(metric: str) -> dict[str, float]:
        """target -> median, in MiB for the byte-valued metrics (the RSS peaks, the bound)."""
        scale = 1.0 if metric in ("concurrent_put", "concurrent_get") else 1024**2
        found: dict[str, float] = {}
        for (name, _), row in summaries.items():
            for target, summary in row.items():
                if name == metric and target in targets and summary.median is not None:
                    found[target] = summary.median / scale
        return found

    panels = [
        (("concurrent_put", "concurrent_get"), "aggregate MiB/s"),
        (("concurrent_put_peak_rss", "concurrent_get_peak_rss"), "peak RSS, MiB"),
    ]
    if not medians("concurrent_put") and not medians("concurrent_get"):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.8 / len(targets)
    for ax, (metrics, ylabel) in zip(axes, panels, strict=True):
        for i, target in enumerate(targets):
            values = [medians(metric).get(target, 0.0) for metric in metrics]
            xs = [x + i * width for x in range(len(metrics))]
            ax.bar(xs, values, width, label=target, color=COLORS.get(target))
        ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(2)], ["PUT", "GET"])
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    if bound := medians("concurrent_budget_bound").get("gateway"):
        axes[1].axhline(bound, color="tab:red", linestyle="--", label="budget + idle + margin")
    axes[0].legend()
    axes[1].legend()
    shown = next((dict(p) for (n, p) in summaries if n == "concurrent_put"), {})
    detail = f"{shown.get('concurrency', '?')} x {format_size(shown['size'])}" if shown else ""
    fig.suptitle(f"Concurrent transfers ({detail} each way)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
