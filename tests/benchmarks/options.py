"""Command-line options: parsed once, passed around as one frozen value."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

ALL_TARGETS = ("gateway", "reference", "direct")
WORKLOADS = (
    "small",
    "large",
    "client",
    "throughput",
    "concurrent",
    "manyfiles",
    "listing",
    "presigned",
    "rate",
    "proxies",
)
MiB = 1024**2
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": MiB, "mib": MiB, "g": 1024**3, "gib": 1024**3}
MAX_SIZE = 4 * 1024**3


def parse_size(text: str) -> int:
    """`512MiB`, `4GiB`, `64m`, `4096` -> bytes; the binary units keep sizes aligned to parts."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 4096, 64MiB, 1GiB")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 0 < size <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size {text!r} must be between 1 byte and 4 GiB")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _size_list(text: str) -> tuple[int, ...]:
    return tuple(parse_size(part) for part in text.split(",") if part.strip())


def _target_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in ALL_TARGETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"servers must be among {','.join(ALL_TARGETS)}")
    return tuple(name for name in ALL_TARGETS if name in names)


def _workload_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names or any(name not in WORKLOADS for name in names):
        raise argparse.ArgumentTypeError(f"workloads must be among {','.join(WORKLOADS)}")
    return tuple(name for name in WORKLOADS if name in names)


def _concurrency_list(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or any(not 1 <= value <= 256 for value in values):
        raise argparse.ArgumentTypeError("concurrency values must be between 1 and 256")
    return values


@dataclass(frozen=True)
class Options:
    servers: tuple[str, ...]
    only: tuple[str, ...]
    reps: int
    size: int
    client_size: int
    sizes: tuple[int, ...]
    small_size: int
    small_ops: int
    concurrency: tuple[int, ...]
    transfers: int
    transfer_size: int
    presigned_size: int
    out: Path
    workdir: Path | None
    keep_workdir: bool
    gateway_args: tuple[str, ...]
    quick: bool
    concurrent_reps: int = 1
    files: int = 10_000
    listing_entries: int = 100_000
    rate_seconds: float = 10.0
    proxy_sizes: tuple[int, ...] = (256 * MiB, 1024 * MiB)
    profile: bool = False


QUICK = {
    "reps": 1,
    "size": 64 * MiB,
    "client_size": 32 * MiB,
    "sizes": (4 * MiB, 16 * MiB, 64 * MiB),
    "small_ops": 200,
    "transfers": 8,
    "transfer_size": 16 * MiB,
    "presigned_size": 64 * MiB,
    "files": 300,
    "listing_entries": 2000,
    "rate_seconds": 2.0,
    "proxy_sizes": (16 * MiB,),
}


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Benchmark the artifact gateway against `mlflow server --artifacts-only` "
        "and direct S3, all on one local SeaweedFS.",
    )
    parser.add_argument(
        "--servers",
        type=_target_list,
        default=ALL_TARGETS,
        help="comma list among gateway,reference,direct (default: all)",
    )
    parser.add_argument(
        "--only",
        type=_workload_list,
        default=WORKLOADS,
        help=f"comma list of workloads among {','.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    parser.add_argument(
        "--size",
        type=parse_size,
        default=512 * MiB,
        help="large transfer size (default 512MiB, at most 4GiB)",
    )
    parser.add_argument(
        "--client-size",
        type=parse_size,
        default=256 * MiB,
        help="file size for the MLflow client path (default 256MiB)",
    )
    parser.add_argument(
        "--sizes",
        type=_size_list,
        default=(4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB),
        help="comma list for throughput vs size (default 4MiB,...,1GiB)",
    )
    parser.add_argument("--small-size", type=parse_size, default=4096)
    parser.add_argument("--small-ops", type=int, default=500, help="ops per small-file sample")
    parser.add_argument(
        "--concurrency",
        type=_concurrency_list,
        default=(16, 64),
        help="comma list of small-file concurrencies (default 16,64)",
    )
    parser.add_argument(
        "--transfers", type=int, default=64, help="transfers at once for `concurrent` (64)"
    )
    parser.add_argument(
        "--transfer-size",
        type=parse_size,
        default=256 * MiB,
        help="size of each of them (default 256MiB)",
    )
    for flag, default, meaning in (
        ("--concurrent-reps", 1, "repetitions of `concurrent`"),
        ("--files", 10_000, "4 KiB files for `manyfiles`"),
        ("--listing-entries", 100_000, "entries for `listing`"),
    ):
        parser.add_argument(flag, type=int, default=default, help=f"{meaning} (default {default})")
    parser.add_argument(
        "--rate-seconds", type=float, default=10.0, help="wrk run per `rate` sample (10)"
    )
    parser.add_argument(
        "--proxy-sizes",
        type=_size_list,
        default=(256 * MiB, 1024 * MiB),
        help="comma list of `proxies` download sizes (default 256MiB,1GiB)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the gateway during `rate`'s first GET and PUT at c=16 (profile-*.txt)",
    )
    parser.add_argument(
        "--presigned-size",
        type=parse_size,
        default=1024 * MiB,
        help="object size for `presigned`, presigned-only gateway vs direct (default 1GiB)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="scratch directory (default: a fresh temporary one)",
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the scratch directory (server logs, SeaweedFS data)",
    )
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        dest="gateway_args",
        help="extra flag for `python -m gateway` (repeatable), e.g. "
        "--gateway-arg=--workers --gateway-arg=2",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 rep, small sizes (overrides those options)",
    )
    args = parser.parse_args(argv)
    values = vars(args)
    if args.quick:
        values.update(QUICK)
    if values["reps"] < 1 or values["small_ops"] < 1 or values["transfers"] < 1:
        parser.error("--reps, --small-ops and --transfers must be at least 1")
    if values["rate_seconds"] <= 0:
        parser.error("--rate-seconds must be positive")
    if min(values["concurrent_reps"], values["files"], values["listing_entries"]) < 1:
        parser.error("--concurrent-reps, --files and --listing-entries must be at least 1")
    values["gateway_args"] = tuple(values["gateway_args"])
    return Options(**values)
