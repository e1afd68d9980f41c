"""Where a store without metadata keeps a file's digest (local disk without xattrs, SFTP, FTP,
pyarrow): a hidden sidecar `.<name>.gateway-sha256` beside the file. Its names are reserved:
never listed, never served. A sidecar names what binds it to the file it was written for (inode
or modification stamp, and size); one that does not match its file is no digest.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections import OrderedDict

from gateway.stores.digests import parse_hex

SIDECAR = re.compile(r"^\..+\.gateway-sha256$")
SIDECAR_MAX = 256  # bytes: "<64 hex> <number> <number>\n" with room to spare


def sidecar_of(full: str) -> str:
    """The sidecar of the file at `full` (a POSIX path: local, SFTP, FTP, pyarrow)."""
    directory, name = posixpath.split(full)
    return posixpath.join(directory, f".{name}.gateway-sha256")


class KnownDigests:
    """The sidecar digests one store read or wrote lately, by path, with the size and stamp
    they hold for: a repeated read of a file costs no sidecar round trips (two to four on SFTP,
    a data connection on FTP). The same validity rule as the sidecar's; bounded, oldest out.
    Locked: pyarrow stores call it from their threads."""

    def __init__(self, most: int = 4096) -> None:
        self._most = most
        self._items: OrderedDict[str, tuple[int, int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, full: str, size: int, stamp: int) -> bytes | None:
        with self._lock:
            item = self._items.get(full)
            if item is None or item[:2] != (size, stamp):
                return None
            self._items.move_to_end(full)
            return item[2]

    def put(self, full: str, size: int, stamp: int, sha256: bytes) -> None:
        with self._lock:
            self._items[full] = (size, stamp, sha256)
            self._items.move_to_end(full)
            while len(self._items) > self._most:
                self._items.popitem(last=False)

    def drop(self, full: str, tree: bool = False) -> None:
        """The file at `full`; with `tree`, everything under the directory `full` too."""
        with self._lock:
            self._items.pop(full, None)
            if tree:
                under = full.rstrip("/") + "/"
                for key in [key for key in self._items if key.startswith(under)]:
                    del self._items[key]


def sidecar_record(sha256: bytes, *binding: int) -> bytes:
    """A sidecar's content: the digest, then what binds it to its file (local disk: inode and
    size; SFTP/FTP: size and mtime in whole seconds; pyarrow: size and mtime in ns)."""
    return " ".join([sha256.hex(), *map(str, binding)]).encode() + b"\n"


def sidecar_digest(record: bytes, *binding: int) -> bytes | None:
    """The digest in `record` if it was written for a file with this binding; None for another
    file's (or a torn) sidecar: no digest rather than a wrong one."""
    fields = record.decode("ascii", "replace").split()
    if fields[1:] != [str(value) for value in binding]:
        return None
    return parse_hex(fields[0])
