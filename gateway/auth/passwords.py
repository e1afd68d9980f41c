"""Salted scrypt hashes of passwords and tokens, with their parameters inside the hash string.

scrypt is memory-hard and in the standard library; N=2**14, r=8, p=1 are Django's defaults.
Format: `scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>`. Token hashes carry a lookup id in
front (`scrypt-t$<lookup>$<n>$...`) so that a Bearer token finds its user without one scrypt per
token user: see `TokenHash`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

PREFIX = "scrypt"
TOKEN_PREFIX = "scrypt-t"
N, R, P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MIB = 1024 * 1024
_MAX_MEMORY = 256 * _MIB
_LOOKUP_CONTEXT = b"mlflow-artifact-gateway token lookup\x00"
_LOOKUP = re.compile(r"[0-9a-f]{16}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """Raw header bytes that are not UTF-8 reach here as surrogates; they hash as those bytes."""
    data = secret.encode("utf-8", "surrogateescape")
    memory = 128 * n * r * p + _MIB  # what scrypt needs, plus headroom
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=length)


@dataclass(frozen=True)
class ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, encoded: str) -> ScryptHash:
        """ValueError names what is wrong, never the hash itself."""
        parts = encoded.strip().split("$")
        if len(parts) != 6 or parts[0] != PREFIX:
            raise ValueError("not a hash from `artifact-gateway hash-password` (scrypt$n$r$p$...)")
        try:
            n, r, p = (int(x) for x in parts[1:4])
            salt = base64.b64decode(parts[4], validate=True)
            digest = base64.b64decode(parts[5], validate=True)
        except ValueError:
            # The cause would quote the hash's text: it is dropped on purpose.
            raise ValueError("malformed scrypt hash: bad numbers or base64") from None
        if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
            raise ValueError(f"scrypt parameters out of range: n={n} r={r} p={p}")
        if 128 * n * r * p > _MAX_MEMORY:
            raise ValueError(f"scrypt parameters n={n} r={r} p={p} need more than 256 MiB")
        if len(salt) < 8 or len(digest) < 16:
            raise ValueError("scrypt salt or hash too short")
        return cls(n, r, p, salt, digest)

    def matches(self, secret: str) -> bool:
        derived = _scrypt(secret, self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(derived, self.digest)

    def __str__(self) -> str:
        return f"{PREFIX}${self.n}${self.r}${self.p}${_b64(self.salt)}${_b64(self.digest)}"


def hash_secret(secret: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A fresh random salt every time: equal passwords never share a hash."""
    salt = os.urandom(_SALT_BYTES)
    return str(ScryptHash(n, r, p, salt, _scrypt(secret, salt, n, r, p, _HASH_BYTES)))


def verify(secret: str, encoded: str) -> bool:
    return ScryptHash.parse(encoded).matches(secret)


def lookup_id(token: str) -> str:
    """8 bytes of a domain-separated SHA-256 of the token: an index, not a secret.

    It lets anyone holding the hash test a guess with one SHA-256 instead of one scrypt, so it
    is safe only for high-entropy tokens (random, 32+ characters); scrypt still decides.
    """
    data = token.encode("utf-8", "surrogateescape")
    return hashlib.sha256(_LOOKUP_CONTEXT + data).hexdigest()[:16]


@dataclass(frozen=True)
class TokenHash:
    """A token's scrypt hash and, in the `scrypt-t$` format, its lookup id (None: older format)."""

    lookup: str | None
    scrypt: ScryptHash

    @classmethod
    def parse(cls, encoded: str) -> TokenHash:
        text = encoded.strip()
        if not text.startswith(TOKEN_PREFIX + "$"):
            return cls(None, ScryptHash.parse(text))
        lookup, _, rest = text.removeprefix(TOKEN_PREFIX + "$").partition("$")
        if not _LOOKUP.fullmatch(lookup):
            raise ValueError("malformed token hash: the lookup id is not 16 hex digits")
        return cls(lookup, ScryptHash.parse(f"{PREFIX}${rest}"))

    def matches(self, token: str) -> bool:
        return self.scrypt.matches(token)

    def __str__(self) -> str:
        if self.lookup is None:
            return str(self.scrypt)
        return f"{TOKEN_PREFIX}${self.lookup}${str(self.scrypt).removeprefix(PREFIX + '$')}"


def hash_token(token: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A token hash with its lookup id: Bearer checks cost one scrypt however many token users."""
    return str(TokenHash(lookup_id(token), ScryptHash.parse(hash_secret(token, n=n, r=r, p=p))))
