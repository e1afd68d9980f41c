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
