"""gateway/stores/digests.py: RFC 9530 parsing and the check at the body's end."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from gateway.stores.digests import DigestMismatch, HashingBody, checked, client_checks, repr_digest
from gateway.stores.errors import InvalidRequest


class _Pieces:
    def __init__(self, *pieces: bytes) -> None:
        self._pieces = list(pieces)

    async def read(self, n: int = -1) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


async def _drain(body: HashingBody, n: int = 4) -> bytes:
    out = b""
    while piece := await body.read(n):
        out += piece
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_rfc9530_dictionary_with_parameters_and_unknown_algorithms() -> None:
    sha = hashlib.sha256(b"x").digest()
    checks = client_checks({"Content-Digest": f"unixsum=:AAA=:, sha-256=:{_b64(sha)}:;p=1"})
    assert [(c.algorithm, c.expected) for c in checks] == [("sha256", sha)]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Digest": "sha-256=abc"},
        {"Repr-Digest": "sha-256=:not base64!:"},
        {"Content-MD5": "%%%"},
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        client_checks(headers)


def test_the_check_happens_on_the_read_that_ends_the_body() -> None:
    good = {"Content-MD5": _b64(hashlib.md5(b"abcdef").digest())}
    body = checked(_Pieces(b"abc", b"def"), good)
    assert asyncio.run(_drain(body)) == b"abcdef"
    assert body.sha256 == hashlib.sha256(b"abcdef").digest()
    bad = checked(_Pieces(b"abc", b"deX"), good)
    with pytest.raises(DigestMismatch, match="Content-MD5"):
        asyncio.run(_drain(bad))
    assert bad.sha256 is None


def test_a_part_is_checked_at_its_length_without_reading_further() -> None:
    sha = hashlib.sha256(b"abcd").digest()
    part = checked(_Pieces(b"ab", b"cX"), {"x-amz-checksum-sha256": _b64(sha)}, size=3)

    async def read_exact() -> None:
        await part.read(2)
        await part.read(1)

    with pytest.raises(DigestMismatch, match="x-amz-checksum-sha256"):
        asyncio.run(read_exact())


def test_repr_digest_shape() -> None:
    assert repr_digest(hashlib.sha256(b"").digest()) == (
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    )
