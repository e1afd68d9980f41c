"""Where a file's SHA-256 is kept on SFTP and FTP, which keep no metadata with a file: a hidden
sidecar `.<name>.gateway-sha256` beside it, holding the digest and the file's size and mtime
(whole seconds: what both protocols report).

The old sidecar goes before the rename and the new one is written after it, so a crash between
the two leaves the file without a digest, never with another file's. A sidecar whose size or
mtime differs from its file's (a file replaced behind the gateway's back, an overwrite that
finished in another second) counts as no digest. Two uploads of the same size to one name that
finish in the same second can pair one's sidecar with the other's bytes: that digest then
disagrees with the bytes, which a client checking `Repr-Digest` and `verify` both report; it
cannot make wrong bytes pass. Write-once paths have no such overwrite.
"""

from __future__ import annotations

from gateway.stores.sidecars import (
    SIDECAR_MAX,
    KnownDigests,
    sidecar_digest,
    sidecar_of,
    sidecar_record,
)
from gateway.stores.tree.session import Node, Session


async def read_digest(session: Session, full: str, node: Node, known: KnownDigests) -> bytes | None:
    """The digest kept for the file `node` at `full`; None without a sidecar that matches it."""
    if (found := known.get(full, node.size, int(node.mtime))) is not None:
        return found
    side = await session.stat(sidecar_of(full))
    if side is None or side.is_dir or not 0 < side.size <= SIDECAR_MAX:
        return None
    span = (0, side.size)
    pieces = [piece async for piece in session.read(sidecar_of(full), span, True, SIDECAR_MAX)]
    found = sidecar_digest(b"".join(pieces), node.size, int(node.mtime))
    if found is not None:
        known.put(full, node.size, int(node.mtime), found)
    return found


async def keep_digest(session: Session, full: str, sha256: bytes, known: KnownDigests) -> None:
    """After the rename: the sidecar for the file now at `full`."""
    node = await session.stat(full)
    if node is None or node.is_dir:
        return  # deleted or replaced meanwhile: nothing to vouch for
    writer = await session.open_write(sidecar_of(full))
    try:
        await writer.write(sidecar_record(sha256, node.size, int(node.mtime)))
    except BaseException:
        await writer.abandon()
        raise
    await writer.finish()
    known.put(full, node.size, int(node.mtime), sha256)


async def forget_digest(session: Session, full: str, known: KnownDigests) -> None:
    """Before the file at `full` is replaced or removed (none there is fine)."""
    known.drop(full)
    if await session.stat(sidecar_of(full)) is not None:
        await session.remove(sidecar_of(full))
