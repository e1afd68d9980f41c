"""What a crash leaves on a local destination, found and removed by the cleanup pass.

A SIGKILL or power cut mid-write leaves `.<name>.<32 hex>.gateway-part` beside its target and
the directories the upload created; one inside `mpu/create` leaves `.gateway-uploads/.<id>.tmp`.
Nothing else removes them: no request may name them (`LocalFiles.local_path`) and no process
remembers them after a restart.

The walk costs one `scandir` per directory and one `stat` per temp-named file and per
directory: linear in the destination's entries, once per `multipart.cleanup_interval`, in a
worker thread. Only what is older than the cutoff goes, so a live upload (its temp file is
written to, its directory just made) is never touched; a directory counts by its mtime from
before the pass removed anything in it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil

log = logging.getLogger(__name__)

TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{32}\.gateway-part$")
_STAGING_TEMP = re.compile(r"^\.[0-9a-f]{32}\.tmp$")


def remove_stale(root: str, staging: str, cutoff: float) -> int:
    """Removes stale temp files and emptied directories under `root` (older than `cutoff`,
    a timestamp) and half-created uploads in `staging`; returns how many entries went."""
    return _sweep_staging(staging, cutoff) + _sweep(root, cutoff, skip=os.path.basename(staging))


def _older(path: str, cutoff: float) -> bool:
    try:
        return os.lstat(path).st_mtime < cutoff
    except FileNotFoundError:
        return False


def _sweep_staging(staging: str, cutoff: float) -> int:
    try:
        names = os.listdir(staging)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in filter(_STAGING_TEMP.match, names):
        path = os.path.join(staging, name)
        if _older(path, cutoff):
            removed += remove_tree(path)
    return removed


def remove_tree(path: str) -> bool:
    """Removes a directory tree; a failure is logged (the next pass tries again), not raised."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return False  # removed meanwhile
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
        return False
    return True


def _sweep(directory: str, cutoff: float, skip: str | None = None) -> int:
    """Depth first; returns the entries removed below `directory` (not itself)."""
    removed = 0
    try:
        with os.scandir(directory) as it:
            items = list(it)
    except (FileNotFoundError, NotADirectoryError):  # removed meanwhile
        return 0
    for item in items:
        if item.name == skip:
            continue
        if item.is_dir(follow_symlinks=False):
            stale_dir = _older(item.path, cutoff)
            removed += _sweep(item.path, cutoff)
            if stale_dir:
                with contextlib.suppress(OSError):  # not empty, or just used again
                    os.rmdir(item.path)
                    removed += 1
        elif TEMP_NAME.match(item.name) and _older(item.path, cutoff):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(item.path)
                removed += 1
    return removed
