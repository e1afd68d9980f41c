"""A SHA-256 of every stored file, computed while the body streams, and the client's digests
checked against it before anything becomes visible.

Any store adopts it the same way: `body = hashing(body)` first thing in `write`, read the body
to its end (every store must, to know it ended), then `body.sha256` is the file's digest, and
the digest to keep with the object. The check happens on the read that returns the end of the
body: a mismatch raises there, before the store commits, so no store can make a corrupt file
visible once it wraps its body.

Client digests (RFC 9530 `Content-Digest` / `Repr-Digest` with `sha-256` or `sha-512`,
RFC 1864 `Content-MD5`, S3's `x-amz-checksum-sha256`) come from `client_checks`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.stores.base import ByteSource
from gateway.stores.errors import InvalidRequest

# RFC 9530 section 5 registry: the active algorithms (md5, sha, unixsum... are deprecated).
_RFC9530 = {"sha-256": "sha256", "sha-512": "sha512"}
# RFC 8941 section 3.2 dictionary member with a byte-sequence value: key=:base64:
_MEMBER = re.compile(r"^\s*([a-z][a-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/=]*):\s*(;.*)?$")
DIGEST_HEADERS = ("Content-Digest", "Repr-Digest", "Content-MD5", "x-amz-checksum-sha256")


class DigestMismatch(InvalidRequest):
    """A client's digest disagrees with the body received: nothing was stored (400)."""


@dataclass(frozen=True)
class Check:
    header: str  # where the client said it, for the message
    algorithm: str  # hashlib's name
    expected: bytes


def _b64(header: str, value: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{header} is not valid base64") from exc


def _structured(header: str, value: str) -> list[Check]:
    """RFC 9530 section 2/3: a dictionary of algorithm -> byte sequence; unknown ones ignored."""
    checks = []
    for member in value.split(","):
        match = _MEMBER.match(member)
        if match is None:
            raise InvalidRequest(f"{header} is not an RFC 9530 digest dictionary")
        name, digest = match.group(1), match.group(2)
        if name in _RFC9530:
            checks.append(Check(header, _RFC9530[name], _b64(header, digest)))
    return checks


def client_checks(headers: Mapping[str, str]) -> list[Check]:
    """Every digest the request declares for its body; a malformed header is a 400."""
    checks: list[Check] = []
    for header in ("Content-Digest", "Repr-Digest"):
        if (value := headers.get(header)) is not None:
            checks += _structured(header, value)
    if (value := headers.get("Content-MD5")) is not None:
        checks.append(Check("Content-MD5", "md5", _b64("Content-MD5", value)))
    amz = "x-amz-checksum-sha256"
    if (value := headers.get(amz)) is not None:
        checks.append(Check(amz, "sha256", _b64(amz, value)))
    return checks


class HashingBody:
    """A ByteSource that hashes what passes through and checks the client's digests at its end."""

    def __init__(
        self, body: ByteSource, checks: list[Check] | None = None, size: int | None = None
    ) -> None:
        self._body = body
        self._end = size  # a part's length: its readers stop there, never reading the end
        self.checks = list(checks or [])
        self._hashes = {"sha256": hashlib.sha256()}
        for check in self.checks:
            self._hashes.setdefault(check.algorithm, hashlib.new(check.algorithm))
        self.size = 0
        self.sha256: bytes | None = None  # set once the end has been read and checked

    async def read(self, n: int = -1) -> bytes:
        piece = await self._body.read(n)
        if piece:
            self.size += len(piece)
            for h in self._hashes.values():
                h.update(piece)
            if self._end is not None and self.size >= self._end:
                self._finish()
        elif self.sha256 is None and n != 0:
            self._finish()
        return piece

    def _finish(self) -> None:
        for check in self.checks:
            if self._hashes[check.algorithm].digest() != check.expected:
                raise DigestMismatch(
                    f"{check.header} ({check.algorithm}) does not match the body received: "
                    "nothing was stored"
                )
        self.sha256 = self._hashes["sha256"].digest()


def hashing(body: ByteSource) -> HashingBody:
    """The body as a HashingBody: the route's own (with the client's checks), or a new one."""
    return body if isinstance(body, HashingBody) else HashingBody(body)


def checked(body: ByteSource, headers: Mapping[str, str], size: int | None = None) -> HashingBody:
    """What an upload route hands its store: the body, checked against the request's digests
    (a part's when `size`, its Content-Length, is given)."""
    return HashingBody(body, client_checks(headers), size)


def repr_digest(sha256: bytes) -> str:
    """RFC 9530 section 3: `sha-256=:<base64>:`."""
    return f"sha-256=:{base64.b64encode(sha256).decode()}:"


def parse_hex(value: str | None) -> bytes | None:
    """A stored hex SHA-256 (metadata, xattr), or None when absent or not one."""
    if not value or len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None
