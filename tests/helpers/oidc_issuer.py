"""An OIDC issuer on 127.0.0.1: a discovery document and a JWKS served by a small aiohttp app,
keys generated here with `cryptography`, tokens signed with PyJWT, and the forgeries an
attacker would try, made by hand (PyJWT refuses to make most of them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "mlflow-artifact-gateway"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    algorithm: str

    @classmethod
    def rsa(cls) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(f"rsa-{uuid.uuid4().hex[:8]}", private, "RS256")

    @classmethod
    def ec(cls) -> SigningKey:
        return cls(f"ec-{uuid.uuid4().hex[:8]}", ec.generate_private_key(ec.SECP256R1()), "ES256")

    def jwk(self) -> dict:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class Issuer:
    """`url` is the issuer; `keys[0]` signs; `rotate()` adds a new signing key in front."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.rsa()])
    jwks_requests: int = 0

    def claims(self, subject: str = "ann", **extra: object) -> dict:
        now = int(time.time())
        base = {"iss": self.url, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 300}
        return {**base, **extra}

    def token(self, claims: dict | None = None, key: SigningKey | None = None) -> str:
        key = key or self.keys[0]
        headers = {"kid": key.kid}
        return jwt.encode(claims or self.claims(), key.private, key.algorithm, headers=headers)

    def rotate(self, key: SigningKey | None = None, keep_old: bool = True) -> SigningKey:
        new = key or SigningKey.rsa()
        self.keys = [new, *self.keys] if keep_old else [new]
        return new

    def unsigned(self, claims: dict) -> str:
        """`alg: none` (RFC 7519 section 6)."""
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{b64url(json.dumps(claims).encode())}."

    def hs256_with_public_key(self, claims: dict) -> str:
        """The HS/RS confusion: HMAC keyed by the RSA public key a verifier might misuse."""
        key = self.keys[0]
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
        mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    def tampered(self, claims: dict, **changes: object) -> str:
        """A valid token whose payload is replaced after signing."""
        header, _, signature = self.token(claims).split(".")
        payload = b64url(json.dumps({**claims, **changes}).encode())
        return f"{header}.{payload}.{signature}"

    def app(self) -> web.Application:
        async def discovery(request: web.Request) -> web.Response:
            return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

        async def jwks(request: web.Request) -> web.Response:
            self.jwks_requests += 1
            return web.json_response({"keys": [key.jwk() for key in self.keys]})

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks", jwks)
        return app


@contextlib.asynccontextmanager
async def serving(issuer: Issuer):
    """The issuer on a free 127.0.0.1 port inside the running loop."""
    runner = web.AppRunner(issuer.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    issuer.url = f"http://127.0.0.1:{port}"
    try:
        yield issuer
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serving_in_thread(issuer: Issuer) -> Iterator[Issuer]:
    """The issuer in a thread of its own, for a gateway process to reach."""
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def main() -> None:
        async with serving(issuer):
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30), "the OIDC issuer did not start"
    try:
        yield issuer
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def forged(issuer: Issuer) -> dict[str, str]:
    """Each broken or forged token by the reason the gateway must give for refusing it."""
    now = int(time.time())
    claims = issuer.claims()
    stranger = SigningKey.rsa()
    stranger.kid = "not-a-key-of-the-issuer"
    return {
        "token expired": issuer.token(issuer.claims(exp=now - 3600, iat=now - 7200)),
        "token not yet valid": issuer.token(issuer.claims(nbf=now + 3600)),
        "wrong audience": issuer.token(issuer.claims(aud="someone-else")),
        "wrong issuer": issuer.token(issuer.claims(iss="https://evil.example")),
        "algorithm 'none' is not allowed": issuer.unsigned(claims),
        "algorithm 'HS256' is not allowed": issuer.hs256_with_public_key(claims),
        "unknown signing key": issuer.token(claims, key=stranger),
        "signature does not verify": issuer.tampered(claims, sub="admin"),
        "missing user claim 'sub'": issuer.token({k: v for k, v in claims.items() if k != "sub"}),
        "missing claim 'exp'": issuer.token({k: v for k, v in claims.items() if k != "exp"}),
        "malformed token": "eyJhbGciOi.not-base64.x",
    }
