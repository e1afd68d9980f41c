"""Bearer JWTs from an OIDC issuer: the issuer's keys decide, PyJWT checks (no crypto here).

Discovery (OpenID Connect Discovery 1.0 section 4) gives `jwks_uri` and must name the same
`issuer`; the key set is fetched with the gateway's own client (never in a request's way for
longer than `timeout_seconds`), kept `jwks_cache_seconds`, and fetched again early when a token
names an unknown `kid` (key rotation), at most once per `jwks_min_refetch_seconds` whatever the
tokens say. A token is accepted only with an allowed asymmetric algorithm that matches its key
(`ASYMMETRIC`; RFC 8725 section 3.1), a valid signature, `iss` equal to the issuer, an `aud`
among `audience`, an `exp` in the future and no `nbf`/`iat` in it (each within
`leeway_seconds`), and a non-empty user claim. A refused token is a 401 whose
`WWW-Authenticate: Bearer error="invalid_token"` says why (RFC 6750 section 3); the token itself
is never logged or echoed. An issuer that cannot be reached is a 503, never an allow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from typing import Any

import aiohttp
import jwt

from gateway.auth.decisions import Unavailable
from gateway.auth.identity import OIDC, Identity
from gateway.auth.source_config import OidcConfig
from gateway.errors import Unauthenticated

log = logging.getLogger(__name__)

DISCOVERY = "/.well-known/openid-configuration"
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": "Ed25519"}
_MAX_BODY = 1024 * 1024  # a discovery document or key set larger than this is refused


class InvalidToken(Unauthenticated):
    """RFC 6750 section 3: `error="invalid_token"` and a description a person can act on."""

    def __init__(self, description: str, realm: str) -> None:
        super().__init__(f"Invalid bearer token: {description}", realm)
        safe = description.replace("\\", "").replace('"', "'")
        self.headers = (
            ("WWW-Authenticate", f'Basic realm="{realm}"'),
            (
                "WWW-Authenticate",
                f'Bearer realm="{realm}", error="invalid_token", error_description="{safe}"',
            ),
        )


def looks_like_jwt(token: str) -> bool:
    """A JWS compact serialisation: three base64url parts, the header a JSON object."""
    parts = token.split(".")
    return len(parts) == 3 and parts[0].startswith("eyJ")


class KeySet:
    """The issuer's signing keys by `kid`, refreshed on a schedule and on an unknown `kid`."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._keys: dict[str | None, dict[str, Any]] = {}  # by kid
        self._attempted_at = -float("inf")
        self._failed = False
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self.fetches = 0

    async def start(self) -> None:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=4, ssl=context),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def __len__(self) -> int:
        return len(self._keys)

    async def key(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK for `kid` (None: the only key, when the set has one), or None."""
        age = time.monotonic() - self._attempted_at
        if age > self.config.jwks_cache_seconds or (
            kid not in self._keys and age > self.config.jwks_min_refetch_seconds
        ):
            await self._refresh()
        if self._failed and not self._keys:
            raise self._unavailable("no key set fetched yet")
        found = self._keys.get(kid)
        if found is None and kid is None and len(self._keys) == 1:
            found = next(iter(self._keys.values()))
        return found

    async def _refresh(self) -> None:
        """One fetch at a time, and none within `jwks_min_refetch_seconds` of the last attempt
        (waiters then use its result): a flood of unknown `kid`s costs one fetch per interval."""
        async with self._lock:
            started = time.monotonic()
            if started - self._attempted_at < self.config.jwks_min_refetch_seconds:
                return
            self._attempted_at = started
            try:
                self._keys = await self._fetch()
            except Unavailable:
                self._failed = True  # the keys fetched before stay in use
                raise
            self._failed = False
            self.fetches += 1

    async def _fetch(self) -> dict[str | None, dict[str, Any]]:
        uri = self.config.jwks_uri or await self.discover()
        document = await self._get_json(uri)
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise self._unavailable(f"{uri} has no `keys` list")
        usable = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        return {k.get("kid"): k for k in usable}

    async def discover(self) -> str:
        """The issuer's `jwks_uri`, from a discovery document that names the same issuer."""
        document = await self._get_json(self.config.issuer.rstrip("/") + DISCOVERY)
        if document.get("issuer") != self.config.issuer:
            raise self._unavailable("the discovery document names another issuer")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise self._unavailable("the discovery document has no jwks_uri")
        return uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        assert self._session is not None, "KeySet.start() has not run"
        try:
            async with self._session.get(url) as response:
                body = await response.content.read(_MAX_BODY + 1)
                if response.status != 200 or len(body) > _MAX_BODY:
                    raise self._unavailable(f"{url} answered {response.status}")
                document = await asyncio.to_thread(_json_object, body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self._unavailable(f"{url}: {type(exc).__name__}") from exc
        return document

    def _unavailable(self, what: str) -> Unavailable:
        log.warning("OIDC issuer %s: %s", self.config.issuer, what)
        return Unavailable("The OIDC issuer's keys are unavailable; retry in a moment")


def _json_object(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


class Verifier:
    """`identify(token)`: the token's `Identity`, or `InvalidToken` saying why not."""

    def __init__(self, config: OidcConfig, realm: str) -> None:
        self.config, self.realm = config, realm
        self.keys = KeySet(config)

    async def start(self) -> None:
        await self.keys.start()

    async def close(self) -> None:
        await self.keys.close()

    def _refuse(self, why: str) -> InvalidToken:
        log.info("bearer token refused: %s", why)
        return InvalidToken(why, self.realm)

    @staticmethod
    def accepts(token: str) -> bool:
        """Whether a Bearer token is this source's: a JWT, not a static token."""
        return looks_like_jwt(token)

    async def identify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise self._refuse("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise self._refuse(f"algorithm {str(algorithm)[:16]!r} is not allowed")
        kid = header.get("kid")
        jwk = await self.keys.key(kid if isinstance(kid, str) else None)
        if jwk is None:
            raise self._refuse("unknown signing key (kid)")
        claims = self._verified(token, jwk, algorithm)
        return self._identity(claims)

    def _verified(self, token: str, jwk: dict[str, Any], algorithm: str) -> dict[str, Any]:
        if jwk.get("alg", algorithm) != algorithm or not _fits(jwk, algorithm):
            raise self._refuse(f"algorithm {algorithm} does not match the signing key")
        try:
            key = jwt.PyJWK(jwk, algorithm)
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise self._refuse("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise self._refuse("token not yet valid (nbf/iat)") from exc
        except jwt.InvalidAudienceError as exc:
            raise self._refuse("wrong audience (aud)") from exc
        except jwt.InvalidIssuerError as exc:
            raise self._refuse("wrong issuer (iss)") from exc
        except jwt.InvalidSignatureError as exc:
            raise self._refuse("signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise self._refuse(f"missing claim {exc.claim!r}") from exc
        except jwt.PyJWTError as exc:
            raise self._refuse(f"invalid token ({type(exc).__name__})") from exc

    def _identity(self, claims: dict[str, Any]) -> Identity:
        name = claims.get(self.config.user_claim)
        if not isinstance(name, str) or not name.strip():
            raise self._refuse(f"missing user claim {self.config.user_claim!r}")
        groups: object = claims.get(self.config.groups_claim) if self.config.groups_claim else None
        if isinstance(groups, str):
            groups = groups.replace(",", " ").split()
        found = (
            frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
        )
        return Identity(name.strip(), OIDC, frozenset(found))


def _fits(jwk: dict[str, Any], algorithm: str) -> bool:
    """The key's type (and curve) is the one `algorithm` signs with: no RSA key for HS256."""
    if jwk.get("kty") != _FAMILY.get(algorithm[:2]):
        return False
    curve = _CURVE.get(algorithm)
    return curve is None or jwk.get("crv") == curve
