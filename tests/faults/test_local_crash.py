"""Crash consistency and a full disk on local destinations (black box + the file system).

Crashes are real SIGKILLs: mid-body from outside, and at an exact system call by strace's
fault injection (`-e inject=rename:signal=KILL` kills the gateway as it renames), which is how
a crash inside `mpu/create` between its `mkdir` and its `rename` is produced. Durability after
a 200 cannot be shown by killing a process (the page cache survives that), so the order of the
gateway's own system calls is read from an strace log: the file's fsync, the rename, the
directory's fsync, then the 200.
"""

from __future__ import annotations

import contextlib
import re
import resource
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    MIB,
    Row,
    assert_clear_error,
    get,
    listing,
    mpu_post,
    payload,
    put,
    record,
    request,
    sha,
    sigkill,
    wait_until,
)
from tests.faults.stack import cut_seen, partial_upload
from tests.helpers.processes import ManagedProcess, free_port, gateway_argv
from tests.helpers.stack import Gateway, clean_env

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow-artifacts/artifacts"
# The cleanup pass runs every second and aborts what is older than 2 s.
SWEEP = [
    "--multipart.url-ttl",
    "1",
    "--multipart.cleanup-age",
    "2",
    "--multipart.cleanup-interval",
    "1",
]
TEMP = re.compile(r"^\..+\.[0-9a-f]{32}\.gateway-part$")


def _argv(port: int, root: Path, *extra: str, sweep: bool = True) -> list[str]:
    return gateway_argv(
        port, "--artifacts-destination", str(root), *(SWEEP if sweep else ()), *extra
    )


def _env() -> dict[str, str]:
    return clean_env(PYTHONDONTWRITEBYTECODE="1")  # no .pyc renames to trip strace's injection


def _gateway(
    workdir: Path,
    root: Path,
    port: int,
    prefix: list[str] | None = None,
    name: str = "gateway",
    sweep: bool = True,
    **popen,
) -> Gateway:
    argv = [*(prefix or []), *_argv(port, root, sweep=sweep)]
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        argv, f"{url}/health", workdir / f"{name}.log", env=_env(), cwd=workdir, **popen
    )
    return Gateway(process.start(), url, "local", root=root)


def _strace(workdir: Path, *options: str) -> list[str]:
    strace = shutil.which("strace")
    assert strace, "strace is needed (Debian package strace)"
    return [strace, "-f", "-qq", *options]


def _on_disk(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _visible(gw: Gateway, directory: str) -> list[str]:
    seen = listing(gw, directory)
    assert seen.ok, seen.describe()
    return [f["path"] for f in (seen.json or {}).get("files", [])]


def test_sigkill_mid_put_leaves_nothing_visible_and_cleanup_removes_leftovers(tmp_path):
    root, port = tmp_path / "root", free_port()
    gw = _gateway(tmp_path, root, port)
    try:
        path = "7/run/artifacts/big.bin"
        sock = partial_upload(gw.url, f"{API}/{path}", 16 * MIB, 8 * MIB)
        directory = root / "7/run/artifacts"
        try:
            assert wait_until(
                lambda: any(
                    TEMP.match(p.name) and p.stat().st_size >= MIB
                    for p in (directory.iterdir() if directory.exists() else [])
                ),
                30,
            ), _on_disk(root)
            sigkill(gw.process)
            saw = cut_seen(sock)
        finally:
            sock.close()
        temps = [p.name for p in directory.iterdir() if TEMP.match(p.name)]
        assert temps, "the crash left no temp file: the test crashed too late"
        gw.process.proc = None
        gw.process.start()

        # Nothing of it through the API: not listed, not served, the target absent.
        problems = []
        assert get(gw, path).status == 404
        assert _visible(gw, "7/run/artifacts") == []
        served = get(gw, f"7/run/artifacts/{temps[0]}")
        if served.status not in (400, 404):
            problems.append(
                f"the temp file of the crashed upload is served by its name: {served.describe()}, "
                f"{len(served.body)} bytes"
            )
        # The cleanup pass (every 1 s, for what is older than 2 s) removes the leftovers.
        cleaned = wait_until(lambda: not (root / "7").exists(), 10)
        left = _on_disk(root)
        if not cleaned:
            problems.append(f"the cleanup pass left the crashed upload's leftovers: {left}")
        record(
            Row(
                "SIGKILL the gateway, restart it",
                "local single PUT, 8 MiB of 16 MiB written",
                "put (local)",
                saw,
                "nothing"
                if cleaned
                else f"left after the cleanup pass: {left}; "
                + ("the temp file is served by its name" if len(problems) > 1 else ""),
            )
        )
        assert not problems, problems
    finally:
        gw.process.stop()


def test_crash_inside_mpu_create_leaves_nothing_after_cleanup(tmp_path):
    root, port = tmp_path / "root", free_port()
    inject = _strace(
        tmp_path,
        "-o",
        str(tmp_path / "strace.log"),
        "-e",
        "trace=rename,renameat,renameat2",
        "-e",
        "inject=rename,renameat,renameat2:signal=KILL",
    )
    gw = _gateway(tmp_path, root, port, prefix=inject, name="create-crash")
    try:
        created = mpu_post(gw, "create", "7/run/artifacts", path="/home/me/m.bin", num_parts=2)
        assert not created.ok, f"mpu/create answered although killed at its rename: {created}"
        assert wait_until(lambda: gw.process.proc.poll() is not None, 15), "not killed"
        staging = root / ".gateway-uploads"
        leftovers = [p.name for p in staging.iterdir()] if staging.exists() else []
        assert any(re.fullmatch(r"\.[0-9a-f]{32}\.tmp", n) for n in leftovers), leftovers
        gw.process.stop()
    finally:
        gw.process.stop()
    restarted = _gateway(tmp_path, root, port, name="restarted")
    try:
        assert _visible(restarted, "") == []  # the staging area is never listed
        assert put(restarted, "7/x.txt", b"x").ok
        cleaned = wait_until(lambda: not any(staging.iterdir()), 10)
        left = sorted(p.name for p in staging.iterdir())
        record(
            Row(
                "SIGKILL inside mpu/create (strace: at its rename)",
                "local mpu/create, after mkdir and manifest",
                "client-mpu (local)",
                created.describe(),
                "nothing" if cleaned else f"left after the cleanup pass: .gateway-uploads/{left}",
            )
        )
        assert cleaned, f"the cleanup pass left the crashed create's staging: {left}"
    finally:
        restarted.process.stop()


def test_sigkill_mid_part_then_cleanup_removes_the_upload(tmp_path):
    root, port = tmp_path / "root", free_port()
    gw = _gateway(tmp_path, root, port)
    try:
        created = mpu_post(gw, "create", "7/run/artifacts", path="/home/me/p.bin", num_parts=2)
        assert created.ok and created.json
        url = created.json["credentials"][0]["url"]
        upload = root / ".gateway-uploads" / created.json["upload_id"]
        part_path = url.removeprefix(gw.url)
        sock = partial_upload(gw.url, part_path, 8 * MIB, 4 * MIB)
        try:
            assert wait_until(
                lambda: any(
                    p.name.endswith(".tmp") and p.stat().st_size >= MIB for p in upload.iterdir()
                ),
                30,
            )
            sigkill(gw.process)
            saw = cut_seen(sock)
        finally:
            sock.close()
        gw.process.proc = None
        gw.process.start()
        cleaned = wait_until(lambda: not upload.exists(), 10)
        record(
            Row(
                "SIGKILL the gateway, restart it",
                "local part PUT, 4 MiB of 8 MiB written",
                "client-mpu (local)",
                saw,
                "nothing (the cleanup pass aborted the upload)"
                if cleaned
                else f"left: {_on_disk(root)}",
            )
        )
        assert cleaned, _on_disk(root)
        assert get(gw, "7/run/artifacts/p.bin").status == 404
    finally:
        gw.process.stop()


def test_completed_upload_survives_sigkill_right_after_its_200(tmp_path):
    root, port = tmp_path / "root", free_port()
    gw = _gateway(tmp_path, root, port)
    data = payload(3 * MIB, seed=21)
    try:
        assert put(gw, "7/run/artifacts/done.bin", data).ok
        sigkill(gw.process)
        gw.process.proc = None
        gw.process.start()
        assert sha(get(gw, "7/run/artifacts/done.bin").body) == sha(data)
        assert not [p for p in _on_disk(root) if TEMP.match(Path(p).name)]
    finally:
        gw.process.stop()


def _syscalls(log: Path) -> list[tuple[str, str, str]]:
    """(name, arguments, result) per call, with strace's unfinished/resumed halves joined."""
    calls, pending = [], {}
    for line in log.read_text(errors="replace").splitlines():
        pid, _, rest = line.partition(" ")
        rest = rest.lstrip()  # strace pads the pid column: "5452  openat(" but "26307 openat("
        if "<unfinished ...>" in rest:
            pending[pid] = rest.split("<unfinished ...>")[0]
            continue
        if m := re.match(r"<\.\.\. (\w+) resumed>(.*)", rest):
            rest = pending.pop(pid, m.group(1) + "(") + m.group(2)
        if m := re.match(r"(\w+)\((.*)\)\s+=\s+(-?\d+|\?)", rest):
            calls.append((m.group(1), m.group(2), m.group(3)))
    return calls


def test_put_fsyncs_the_file_and_its_directory_before_the_200(tmp_path):
    root, port = tmp_path / "root", free_port()
    trace = tmp_path / "trace.log"
    watch = "openat,fsync,fdatasync,rename,renameat,renameat2,sendto,sendmsg,write,writev,close"
    gw = _gateway(
        tmp_path,
        root,
        port,
        prefix=_strace(tmp_path, "-s", "48", "-o", str(trace), "-e", f"trace={watch}"),
        name="traced",
    )
    try:
        marker = f"durable-{uuid.uuid4().hex[:8]}"
        assert put(gw, f"7/{marker}/f.bin", payload(2 * MIB, seed=2)).ok
        time.sleep(0.5)  # strace writes its log asynchronously
    finally:
        gw.process.stop()
    calls = _syscalls(trace)
    target_dir = str(root / "7" / marker)
    fds: dict[str, str] = {}  # fd -> path, as opened
    order: list[str] = []
    for name, args, result in calls:
        if name == "openat" and marker in args and result.isdigit():
            fds[result] = args.split('"')[1]
        elif name in ("fsync", "fdatasync") and args in fds:
            opened = fds[args]
            order.append("fsync dir" if opened == target_dir else "fsync file")
        elif name.startswith("rename") and marker in args:
            order.append("rename")
        elif name in ("sendto", "write", "sendmsg", "writev") and '"HTTP/1.1 200' in args:
            if "rename" in order:
                order.append("200")
                break
        elif name == "close" and args in fds:
            del fds[args]
    record(
        Row(
            "(durability) system calls of one local PUT, read with strace",
            "local single PUT",
            "put (local)",
            "200",
            "order: " + " -> ".join(order),
        )
    )
    assert order[:2] == ["fsync file", "rename"], order
    assert "fsync dir" in order and order.index("fsync dir") < order.index("200"), (
        f"no fsync of {target_dir} between the rename and the 200: {order}; a power cut "
        "after the 200 may lose the rename"
    )


# --- a full disk ------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[bool]:
    where.mkdir(parents=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            timeout=30,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(
                ["umount", "-l", str(where)], capture_output=True, timeout=30, check=False
            )


def _limit_file_size(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _full_disk_case(gw: Gateway, root: Path, label: str, too_big: int) -> None:
    data = payload(too_big, seed=31)
    seen = put(gw, "7/run/artifacts/huge.bin", data)
    assert not seen.ok, f"{label}: 200 for a write the disk could not hold"
    leftovers = [p for p in _on_disk(root) if TEMP.match(Path(p).name) or p.endswith("huge.bin")]
    created = mpu_post(gw, "create", "7/run/artifacts", path="/home/me/m.bin", num_parts=1)
    part = None
    if created.ok and created.json:
        credential = created.json["credentials"][0]
        part = request("PUT", credential["url"], data=data)
    record(
        Row(
            label,
            "local single PUT and local part PUT",
            "put, client-mpu part (local)",
            f"PUT: {seen.describe()}: {(seen.json or {}).get('message', '')[:80]}; "
            f"part: {part.describe() if part else created.describe()}",
            f"temp files: {leftovers or 'none'}",
        )
    )
    assert not leftovers, f"{label}: the failed write left {leftovers}"
    assert get(gw, "7/run/artifacts/huge.bin").status == 404
    assert put(gw, "7/run/artifacts/small.txt", b"fits").ok, "the gateway no longer writes"
    assert part is not None and not part.ok
    for what, answer in (("PUT", seen), ("part PUT", part)):
        assert_clear_error(answer, f"{label} {what}")
        assert answer.status in (503, 507), f"{label} {what}: {answer.describe()}"
        message = (answer.json or {}).get("message", "").lower()
        assert "space" in message or "too large" in message or "full" in message, (
            f"{label} {what}: the message does not name the cause: {message!r}"
        )


def test_disk_full_on_a_small_tmpfs(tmp_path):
    with _tmpfs(tmp_path / "small", "8m") as mounted:
        if not mounted:  # not allowed to mount here: the file size limit below still runs
            pytest.fail("cannot mount a tmpfs here (need root outside a locked container)")
        root = tmp_path / "small" / "root"
        gw = _gateway(tmp_path, root, free_port(), name="tmpfs", sweep=False)
        try:
            _full_disk_case(gw, root, "disk full (8 MiB tmpfs, ENOSPC)", 12 * MIB)
        finally:
            gw.process.stop()


def test_file_size_limit_efbig(tmp_path):
    root = tmp_path / "root"
    gw = _gateway(
        tmp_path, root, free_port(), name="fsize", sweep=False, preexec_fn=_limit_file_size(6 * MIB)
    )
    try:
        _full_disk_case(gw, root, "RLIMIT_FSIZE 6 MiB on the gateway (EFBIG)", 8 * MIB)
    finally:
        gw.process.stop()
