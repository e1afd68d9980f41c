"""`python -m tests.benchmarks`: start the servers, run every workload, write the report.

Servers run in their own process groups and are stopped in `finally`, on errors, Ctrl-C and
SIGTERM alike; a partial run writes nothing to `--out` so old results are never half-replaced.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks import rate_report
from tests.benchmarks import servers as servers_mod
from tests.benchmarks.machine import machine_info
from tests.benchmarks.options import Options, parse_args
from tests.benchmarks.plot import plot_concurrency, plot_throughput
from tests.benchmarks.progress import say
from tests.benchmarks.rate import RateBench
from tests.benchmarks.report import write
from tests.benchmarks.workloads import Bench


def _gateway_importable() -> bool:
    """The gateway is under construction: fail early with a hint rather than after SeaweedFS."""
    probe = subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


async def _run_all(bench: Bench) -> None:
    await bench.warmup()
    bench.record_idle()
    for workload in bench.opts.only:  # always in the order of options.WORKLOADS
        await getattr(bench, workload)()
    bench.record_idle("idle_rss_after")


def _print_logs_tail(workdir: Path) -> None:
    for log in sorted(workdir.glob("*.log")):
        tail = log.read_text(errors="replace")[-2000:]
        print(f"--- tail of {log} ---\n{tail}", file=sys.stderr)


def run(opts: Options, workdir: Path) -> int:
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    machine = machine_info()
    base_env = dict(os.environ)
    try:
        with servers_mod.running(opts.servers, workdir, base_env, opts.gateway_args) as (s3, srv):
            bench = RateBench(opts, s3, srv, workdir)
            try:
                asyncio.run(_run_all(bench))
            finally:
                bench.close_proxies()
    except KeyboardInterrupt:
        say("interrupted: servers stopped, no results written")
        return 130
    except Exception:
        _print_logs_tail(workdir)
        raise
    summaries = write(opts.out, bench.samples, opts, machine, started, time.monotonic() - clock)
    png = plot_throughput(summaries, opts.servers, opts.out / "throughput.png")
    plot_concurrency(summaries, opts.servers, opts.out / "concurrency.png")
    units = {s.metric: s.unit for s in bench.samples}
    with open(opts.out / "results.md", "a") as md:
        md.write(rate_report.markdown(summaries, units))
    rate_report.plot_rate(summaries, opts.out / "rate.png")
    rate_report.plot_proxies(summaries, opts.out / "proxies.png")
    print((opts.out / "results.md").read_text())
    errors = sum(1 for s in bench.samples if s.error)
    say(
        f"wrote {opts.out / 'results.md'}, results.json{', throughput.png' if png else ''}; "
        f"{errors} failed sample(s); {time.monotonic() - clock:.0f}s in all"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if "gateway" in opts.servers and not _gateway_importable():
        say("`python -m gateway --help` fails: run with --servers reference,direct for now")
        return 2
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"scratch directory {workdir}")
    keep = opts.keep_workdir
    try:
        return run(opts, workdir)
    except Exception:
        keep = True
        raise
    finally:
        if keep:
            say(f"kept {workdir} (server logs, SeaweedFS data)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
