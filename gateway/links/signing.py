"""Signed gateway URLs: whoever holds one may do exactly one thing, until it expires.

Clients PUT parts and GET ranges without their own credentials, so the URL itself carries the
permission: an HMAC-SHA256 over what it allows (purpose, path, upload id, part number) and its
expiry, keyed with a secret that every replica must share.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping, Sequence

from aiohttp import web
from pydantic import SecretStr

from gateway import redact
from gateway.config import Multipart

log = logging.getLogger(__name__)

Fields = Sequence[str | int]


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, fields: Fields, expires: int) -> str:
        message = json.dumps([*fields, expires], separators=(",", ":")).encode()  # unambiguous
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(self, fields: Fields, ttl: int) -> dict[str, str]:
        """The `expires` and `signature` query parameters of a URL valid at least `ttl` seconds.

        Rounded up: truncating would cut up to a second off, so a 1 s link could die at once.
        """
        expires = math.ceil(time.time()) + ttl
        return {"expires": str(expires), "signature": self.signature(fields, expires)}

    def verify(self, fields: Fields, query: Mapping[str, str]) -> None:
        """Answers 403 (PERMISSION_DENIED) unless `query` signs `fields` and has not expired."""
        try:
            expires = int(query["expires"])
            given = query["signature"]
        except (KeyError, ValueError) as exc:
            raise _refused("it needs 'expires' and 'signature' parameters") from exc
        if not hmac.compare_digest(given.encode(), self.signature(fields, expires).encode()):
            raise _refused("its signature does not match: altered, or signed with another secret")
        if expires < time.time():
            raise _refused("it has expired")


def _refused(why: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(reason=f"This URL is refused: {why}; ask the gateway for a new one")


def settle_secret(config: Multipart) -> SecretStr:
    """Before `--workers` fork: a generated secret must be one secret for all of them."""
    if config.signing_secret is None:
        log.info(
            "multipart.signing_secret is not set: signing URLs with a secret generated for this "
            "process and its workers; several replicas need one configured secret"
        )
        config.signing_secret = SecretStr(secrets.token_urlsafe(32))
    return config.signing_secret


def signer_from(config: Multipart) -> Signer:
    """A configured secret is shared by every replica; otherwise this process makes its own."""
    secret = settle_secret(config).get_secret_value()
    redact.register(secret)
    return Signer(secret.encode())
