"""Where a local file's SHA-256 is kept: its extended attribute `user.mlflow_gateway.sha256`,
or, on a filesystem without user xattrs (found once per root, by a probe on the first write),
a hidden sidecar `.<name>.gateway-sha256` beside the file.

The xattr is set on the temp file before its rename, so bytes and digest appear together. A
sidecar is written after the file is in place (a write-once `link` that loses must not replace
the winner's sidecar), and names the file's inode and size: a sidecar that does not match the
file it sits beside (a crash between the two, a concurrent overwrite, a file replaced behind the
gateway's back) is no digest. Like an xattr it stays with the inode, so an edit in place keeps
it and `verify` finds the edit. Sidecars are never listed, never served (their
names are reserved, `LocalFiles.local_path`) and go with their file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import uuid

from gateway.stores.digests import parse_hex
from gateway.stores.sidecars import SIDECAR_MAX, sidecar_digest, sidecar_of, sidecar_record

log = logging.getLogger(__name__)

SHA256_XATTR = "user.mlflow_gateway.sha256"  # hex; copied with the file by `cp -a`, rsync -X
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _xattr_digest(file: int | str) -> bytes | None:
    try:
        return parse_hex(os.getxattr(file, SHA256_XATTR).decode("ascii", "replace"))
    except (OSError, AttributeError):  # ENODATA, ENOTSUP; no os.getxattr off Linux
        return None


def _sidecar_digest(full: str, st: os.stat_result) -> bytes | None:
    try:
        with open(sidecar_of(full), "rb") as file:
            record = file.read(SIDECAR_MAX)
    except OSError:
        return None
    return sidecar_digest(record, st.st_ino, st.st_size)


class KeptDigests:
    """One per local root: whether it keeps xattrs, asked once, and the digest's reads and
    writes either way. Every method blocks: call them through the store's `_call`."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.xattrs: bool | None = None  # None until the first write probes the root

    def _probe(self) -> bool:
        probe = os.path.join(self.root, f".xattr-probe.{uuid.uuid4().hex}.gateway-part")
        with open(probe, "xb"):
            pass
        try:
            os.setxattr(probe, SHA256_XATTR, b"probe")
            return True
        except (OSError, AttributeError) as exc:
            if getattr(exc, "errno", None) in _FULL:
                raise
            log.info(
                "destination %s keeps no user xattrs (%s): digests go in sidecars", self.root, exc
            )
            return False
        finally:
            os.unlink(probe)

    def before_commit(self, fd: int, sha256: bytes) -> None:
        """On the temp file, before its rename: the xattr (where the root keeps them)."""
        if self.xattrs is None:
            self.xattrs = self._probe()
        if not self.xattrs:
            return
        try:
            os.setxattr(fd, SHA256_XATTR, sha256.hex().encode())
        except OSError as exc:  # e.g. no room left in the inode's xattr block
            if exc.errno in _FULL:
                raise
            log.debug("no xattr for the digest here: %s", exc)

    def after_commit(self, full: str, st: os.stat_result, sha256: bytes) -> None:
        """Once the file is in place: the sidecar (where the root keeps no xattrs), written
        whole under a temp name and renamed (the cleanup pass removes a crash's temp). A
        failure here is logged, not raised: the upload succeeded, its file has no digest."""
        if self.xattrs:
            return
        sidecar = sidecar_of(full)
        directory, name = os.path.split(sidecar)
        temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.gateway-part")
        try:
            with open(temp, "xb") as file:
                file.write(sidecar_record(sha256, st.st_ino, st.st_size))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, sidecar)
        except OSError as exc:  # the file is stored whole: it stays, without a digest
            log.warning("could not keep the digest of %s in its sidecar: %s", full, exc)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def read(self, file: int | str, full: str, st: os.stat_result) -> bytes | None:
        """The file's digest (`file`: its open descriptor or its path); None where it has none
        (written before digests, around the gateway, or its sidecar does not match)."""
        if (found := _xattr_digest(file)) is not None or self.xattrs:
            return found
        return _sidecar_digest(full, st)

    @staticmethod
    def forget(full: str) -> None:
        """The file's sidecar goes with it (none there is fine)."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(sidecar_of(full))
