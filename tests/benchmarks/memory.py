"""Peak RSS of a server's process tree and peak bytes in its TMPDIR, sampled on a thread.

A thread, not a task: the event loop is busy moving bytes and would sample late and rarely.
Temp bytes include files already unlinked but still open (TemporaryFile), found via /proc fds.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

INTERVAL = 0.05


@dataclass(frozen=True)
class Peaks:
    rss_bytes: int
    tmp_bytes: int
    largest_process_rss: int
    processes: int
    samples: int


def tree_processes(root_pid: int) -> list[psutil.Process]:
    """The root, its descendants, and anything else still in its process group."""
    try:
        root = psutil.Process(root_pid)
        procs = {p.pid: p for p in [root, *root.children(recursive=True)]}
    except psutil.Error:
        return []
    try:
        pgid = os.getpgid(root_pid)
    except ProcessLookupError:
        return list(procs.values())
    for proc in psutil.process_iter():
        if proc.pid not in procs:
            try:
                if os.getpgid(proc.pid) == pgid:
                    procs[proc.pid] = proc
            except (ProcessLookupError, PermissionError):
                continue
    return list(procs.values())


def process_rss(procs: list[psutil.Process]) -> list[int]:
    sizes = []
    for proc in procs:
        try:
            sizes.append(proc.memory_info().rss)
        except psutil.Error:
            continue
    return sizes


def _allocated(stat: os.stat_result) -> int:
    return max(stat.st_blocks * 512, 0)


def tmp_usage(tmpdir: Path, procs: list[psutil.Process]) -> int:
    """Allocated bytes of files under `tmpdir`, plus deleted-but-open files that lived there."""
    seen: dict[tuple[int, int], int] = {}
    for dirpath, _dirs, files in os.walk(tmpdir):
        for name in files:
            try:
                stat = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            seen[(stat.st_dev, stat.st_ino)] = _allocated(stat)
    prefix = str(tmpdir)
    for proc in procs:
        fd_dir = f"/proc/{proc.pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if target.startswith(prefix) and target.endswith(" (deleted)"):
                    stat = os.stat(f"{fd_dir}/{fd}")
                    seen[(stat.st_dev, stat.st_ino)] = _allocated(stat)
            except OSError:
                continue
    return sum(seen.values())


class Sampler:
    """`with Sampler(pid, tmpdir) as s: ...` then `s.peaks`; the loop ends when the block does."""

    def __init__(self, root_pid: int, tmpdir: Path, interval: float = INTERVAL) -> None:
        self.root_pid = root_pid
        self.tmpdir = tmpdir
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._rss = 0
        self._tmp = 0
        self._largest = 0
        self._processes = 0
        self._count = 0

    def _sample(self, scan_group: bool) -> None:
        procs = tree_processes(self.root_pid) if scan_group else self._procs
        self._procs = procs
        sizes = process_rss(procs)
        self._rss = max(self._rss, sum(sizes))
        self._largest = max([self._largest, *sizes])
        self._processes = max(self._processes, len(sizes))
        self._tmp = max(self._tmp, tmp_usage(self.tmpdir, procs))
        self._count += 1

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            # Rescan the process group every ~0.5 s: it is the expensive part of a sample.
            self._sample(scan_group=tick % 10 == 0)
            tick += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._procs: list[psutil.Process] = []
        self._sample(scan_group=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def peaks(self) -> Peaks:
        return Peaks(self._rss, self._tmp, self._largest, self._processes, self._count)


def idle_rss(root_pid: int) -> int:
    """RSS of the tree right now: the baseline the peaks are read against."""
    return sum(process_rss(tree_processes(root_pid)))
