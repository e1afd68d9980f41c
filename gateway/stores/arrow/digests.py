"""Where a file's SHA-256 is kept on a pyarrow filesystem (HDFS, and any plug-in scheme):
pyarrow sets metadata only when a stream opens, before the digest is known, and HDFS keeps none,
so a hidden sidecar `.<name>.gateway-sha256` beside the file holds the digest and the file's
size and mtime (nanoseconds, as `FileInfo.mtime_ns` reports them).

As on SFTP and FTP (`stores/tree/digests.py`): the old sidecar goes before the commit and the
new one is written after it, so a crash between leaves no digest, never another file's; a
sidecar whose size or mtime differs from its file's is no digest. Every function blocks: the
store runs them in a thread through its funnel.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from gateway.stores.sidecars import (
    SIDECAR_MAX,
    KnownDigests,
    sidecar_digest,
    sidecar_of,
    sidecar_record,
)

if TYPE_CHECKING:
    from pyarrow import fs as pafs


def read_digest(
    fs: pafs.FileSystem, full: str, info: pafs.FileInfo, known: KnownDigests
) -> bytes | None:
    """The digest kept for the file `info` at `full`; None without a sidecar that matches it."""
    from pyarrow.fs import FileType

    size, stamp = info.size or 0, info.mtime_ns or 0
    if (found := known.get(full, size, stamp)) is not None:
        return found
    side = fs.get_file_info(sidecar_of(full))
    if side.type != FileType.File or not 0 < (side.size or 0) <= SIDECAR_MAX:
        return None
    with fs.open_input_stream(sidecar_of(full)) as source:
        record = source.read(SIDECAR_MAX)
    found = sidecar_digest(record, size, stamp)
    if found is not None:
        known.put(full, size, stamp, found)
    return found


def keep_digest(fs: pafs.FileSystem, full: str, sha256: bytes, known: KnownDigests) -> None:
    """After the commit: the sidecar for the file now at `full`."""
    from pyarrow.fs import FileType

    info = fs.get_file_info(full)
    if info.type != FileType.File:
        return  # deleted or replaced meanwhile: nothing to vouch for
    size, stamp = info.size or 0, info.mtime_ns or 0
    with fs.open_output_stream(sidecar_of(full)) as sink:
        sink.write(sidecar_record(sha256, size, stamp))
    known.put(full, size, stamp, sha256)


def forget_digest(fs: pafs.FileSystem, full: str, known: KnownDigests) -> None:
    """Before the file at `full` is replaced or removed (none there is fine)."""
    known.drop(full)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(sidecar_of(full))
