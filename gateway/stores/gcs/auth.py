"""Who the GCS store is: bearer tokens from google-auth, and the service-account key that
signs V4 URLs.

google-auth is synchronous: a token refresh (one HTTPS call to Google's token endpoint, or
the metadata server) runs in a worker thread, under a lock so concurrent requests wait for
one refresh instead of starting many.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


class Tokens:
    """`headers()`: the Authorization header for the next request ({} when anonymous)."""

    def __init__(self, credentials_file: Path | None, anonymous: bool) -> None:
        self._file = credentials_file
        self._anonymous = anonymous
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    def _load(self) -> Any:
        if self._file is not None:
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(
                str(self._file), scopes=[SCOPE]
            )
        import google.auth

        credentials, _ = google.auth.default(scopes=[SCOPE])  # reads GOOGLE_APPLICATION_CREDENTIALS
        return credentials

    def _refresh(self) -> None:
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._credentials = self._load()
        self._credentials.refresh(Request())

    async def headers(self) -> dict[str, str]:
        if self._anonymous:
            return {}
        if self._credentials is None or not self._credentials.valid:
            async with self._lock:
                if self._credentials is None or not self._credentials.valid:
                    await asyncio.to_thread(self._refresh)
        return {"Authorization": f"Bearer {self._credentials.token}"}


class SigningKey:
    """A service account's email and RSA private key, from its JSON key file."""

    def __init__(self, email: str, private_key_pem: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        self.email = email
        self._key = load_pem_private_key(private_key_pem.encode(), password=None)

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        info = json.loads(path.read_text())
        try:
            return cls(info["client_email"], info["private_key"])
        except KeyError as exc:
            missing = exc.args[0]
            raise ValueError(f"{path} is not a service-account key ({missing} missing)") from exc

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256, as GOOG4-RSA-SHA256 asks."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
