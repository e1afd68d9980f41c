"""CSV, PNG and the trend check: the soak fails when a resource keeps growing.

The check looks at the second half of the run (after the warm-up has filled pools and
caches), cut into WINDOWS equal windows. A gauge under load jumps up with whatever is in
flight, and RSS also dips whenever the gateway hands freed memory back (its idle
`malloc_trim`); a leak raises the whole window. So each window contributes its median, which
ignores both, and the slope through those medians is Theil-Sen's (the median of the slopes
between every pair, so one odd window cannot tip it), compared with a fixed threshold per
minute. The allocator also moves RSS in plateaus of 10-30 MiB that last longer than a window
(arenas grown under a burst, then trimmed), which can tilt a short slope either way; a leak,
unlike a plateau, takes the gauge above every level the first half reached. So a metric fails
only if, besides its slope, its last window's median lies more than its minimum growth above
the highest window median of the first half.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from tests.soak.sampler import Sample

# Growth per minute over the second half beyond which the soak fails.
THRESHOLDS = {
    "rss_mib": 1.0,
    "fds": 1.0,
    "threads": 0.5,
    "s3_conns": 1.0,
    "close_wait": 0.5,
    "tasks": 10.0,
}
# ... and by more than this over the second half: one fd or connection more in a window median
# is the resolution of a short run (the S3 pool may also still grow towards its bound), so the
# 3-minute CI run catches only fast leaks (above ~5 fds or 12 MiB a minute: RSS steps of 8 MiB
# from allocator arenas came and went within 3 minutes in CI, once ending +8.3 above the first
# half); a 30-minute run resolves the per-minute thresholds above.
MIN_GROWTH = {
    "rss_mib": 12.0,
    "fds": 4.0,
    "threads": 2.0,
    "s3_conns": 4.0,
    "close_wait": 2.0,
    "tasks": 50.0,
}
WINDOWS = 6
MIN_SAMPLES = 2 * WINDOWS  # in the second half


@dataclass(frozen=True)
class Trend:
    metric: str
    slope_per_min: float | None
    threshold: float
    samples: int
    minutes: float = 0.0  # length of the second half
    above_first_half: float = 0.0  # last window's median minus the first half's highest

    @property
    def growth(self) -> float:
        return (self.slope_per_min or 0.0) * self.minutes

    @property
    def failed(self) -> bool:
        if self.slope_per_min is None:
            return False
        least = MIN_GROWTH[self.metric]
        rising = self.slope_per_min > self.threshold and self.growth > least
        return rising and self.above_first_half > least

    def line(self) -> str:
        if self.slope_per_min is None:
            return f"{self.metric:<11} n/a (not measured)          threshold {self.threshold}/min"
        verdict = "FAIL" if self.failed else "ok"
        return (
            f"{self.metric:<11} {self.slope_per_min:+9.3f}/min (window medians of {self.samples} "
            f"samples; {self.growth:+.1f} over the second half, {self.above_first_half:+.1f} "
            f"above the first half's peak), threshold {self.threshold}/min "
            f"and {MIN_GROWTH[self.metric]:g} in all: {verdict}"
        )


def theil_sen(points: list[tuple[float, float]]) -> float:
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    return statistics.median(slopes) if slopes else 0.0


def trends(samples: list[Sample]) -> list[Trend]:
    first, half = samples[: len(samples) // 2], samples[len(samples) // 2 :]
    if len(half) < MIN_SAMPLES:
        raise ValueError(f"{len(half)} samples in the second half; need {MIN_SAMPLES}")
    result = []
    for metric, threshold in THRESHOLDS.items():
        points = _points(half, metric)
        slope, above = None, 0.0
        if len(points) >= MIN_SAMPLES:
            medians = floors(points)
            slope = theil_sen(medians)
            before = floors(_points(first, metric)) if len(first) >= WINDOWS else []
            above = medians[-1][1] - max((y for _, y in before), default=medians[0][1])
        minutes = (half[-1].t - half[0].t) / 60
        result.append(Trend(metric, slope, threshold, len(points), minutes, above))
    return result


def _points(samples: list[Sample], metric: str) -> list[tuple[float, float]]:
    return [(s.t / 60, getattr(s, metric)) for s in samples if getattr(s, metric) is not None]


def floors(points: list[tuple[float, float]], windows: int = WINDOWS) -> list[tuple[float, float]]:
    """(middle of the window, the median value in it) for `windows` equal spans of time."""
    start, end = points[0][0], points[-1][0]
    span = (end - start) / windows or 1.0
    out = []
    for i in range(windows):
        lo, hi = start + i * span, start + (i + 1) * span
        inside = [y for x, y in points if lo <= x < hi or (i == windows - 1 and x == end)]
        if inside:
            out.append(((lo + hi) / 2, statistics.median(inside)))
    return out


def write_csv(samples: list[Sample], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(samples[0].row()))
        writer.writeheader()
        for sample in samples:
            writer.writerow(sample.row())


def write_png(samples: list[Sample], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    t = [s.t / 60 for s in samples]
    panels = [
        ("RSS (MiB)", ["rss_mib"]),
        ("open fds / threads", ["fds", "threads"]),
        ("TCP connections", ["s3_conns", "client_conns", "close_wait"]),
        ("asyncio tasks (from /metrics)", ["tasks"]),
        ("small ops latency (ms)", ["small_p50_ms", "small_p95_ms", "small_p99_ms"]),
        ("large ops latency (ms)", ["large_p50_ms", "large_p95_ms", "large_p99_ms"]),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True)
    for ax, (title, metrics) in zip(axes, panels, strict=True):
        for metric in metrics:
            values = [getattr(s, metric) for s in samples]
            if any(v is not None for v in values):
                ax.plot(t, [float("nan") if v is None else v for v in values], label=metric)
        if title.startswith("asyncio") and all(s.tasks is None for s in samples):
            ax.text(0.5, 0.5, "not exposed by the gateway", ha="center", transform=ax.transAxes)
        ax.axvline(t[len(t) // 2] if t else 0, color="grey", linestyle=":", linewidth=1)
        ax.set_title(title, fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("minutes (dotted: start of the second half, where trends are fitted)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
