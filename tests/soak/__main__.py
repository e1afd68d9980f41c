"""`python -m tests.soak --minutes N`: a bounded soak of the gateway on SeaweedFS, auth on.

Starts its own SeaweedFS and gateway on 127.0.0.1, runs the mixed workload of
tests/soak/workload.py at fixed concurrency for N minutes, samples the gateway process every
`--interval` seconds, writes `soak.csv`, `soak.png` and `summary.txt` to `--out`, and exits 1
when a resource trend over the second half exceeds its threshold (tests/soak/report.py) or any
operation failed; 0 otherwise. Every server is stopped on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.soak import report
from tests.soak.servers import running
from tests.soak.workload import MIB, Done, run

PART_SIZE = 5 * MIB


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="workload duration (default 30)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="clients in parallel (default 8)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between samples (default: minutes x 60 / 60, 2 to 30 s)",
    )
    parser.add_argument("--out", type=Path, default=Path("soak-results"), help="output directory")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.concurrency < 1:
        parser.error("--minutes must be > 0 and --concurrency >= 1")
    if not args.interval:
        args.interval = min(30.0, max(1.0, args.minutes * 60 / 180))
    return args


def _sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    args.out.mkdir(parents=True, exist_ok=True)
    done: list[Done] = []
    from tests.soak.sampler import Sampler  # psutil only once the servers are wanted

    print(
        f"soak: {args.minutes} min, concurrency {args.concurrency}, sample every "
        f"{args.interval:.0f} s -> {args.out}",
        flush=True,
    )
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        running(Path(tmp), PART_SIZE) as servers,
    ):
        sampler = Sampler(
            servers.gateway.pid, servers.url, servers.seaweed.s3_port, done, args.interval
        )
        sampler.sample()  # t=0, before any load
        sampler.start()
        try:
            asyncio.run(run(servers.url, args.concurrency, args.minutes * 60, done))
        except KeyboardInterrupt:
            sampler.stop()
            print("soak: interrupted; servers stopped", file=sys.stderr)
            return 130
        sampler.stop()
        samples = sampler.samples
        tail = servers.gateway.log_text()[-3000:]
    report.write_csv(samples, args.out / "soak.csv")
    png = report.write_png(samples, args.out / "soak.png")
    trends = report.trends(samples)
    errors = [d for d in done if not d.ok]
    counts = collections.Counter(d.op for d in done)
    lines = [
        f"soak: {args.minutes} min at concurrency {args.concurrency}, {len(done)} operations "
        f"({', '.join(f'{op} {n}' for op, n in sorted(counts.items()))}), {len(errors)} failed; "
        f"{len(samples)} samples; {time.monotonic() - started:.0f} s in all",
        f"gateway RSS {samples[0].rss_mib:.0f} -> {samples[-1].rss_mib:.0f} MiB, fds "
        f"{samples[0].fds} -> {samples[-1].fds}, threads {samples[0].threads} -> "
        f"{samples[-1].threads}, S3 connections {samples[0].s3_conns} -> {samples[-1].s3_conns}",
        "trend over the second half (Theil-Sen slope):",
        *(f"  {t.line()}" for t in trends),
    ]
    if not sampler.has_tasks:
        lines.append(
            "  asyncio tasks: not measured (the gateway exposes no gateway_asyncio_tasks "
            "at /metrics yet; the sampler reads it once it does)"
        )
    for error in errors[:20]:
        lines.append(f"  error: {error.op}: {error.detail}")
    failed = [t for t in trends if t.failed]
    verdict = "FAIL" if failed or errors else "PASS"
    lines.append(
        f"soak: {verdict}" + (f" ({', '.join(t.metric for t in failed)} growing)" if failed else "")
    )
    text = "\n".join(lines)
    (args.out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {args.out / 'soak.csv'}" + (f", {args.out / 'soak.png'}" if png else ""))
    if errors:
        print(f"--- gateway log tail ---\n{tail}", file=sys.stderr)
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
