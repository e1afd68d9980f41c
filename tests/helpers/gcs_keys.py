"""A throwaway service-account key (a fresh RSA key, a made-up email) for V4 signing tests."""

from __future__ import annotations

import json
from pathlib import Path

EMAIL = "gateway-tests@gateway-tests.iam.gserviceaccount.com"


def service_account_file(directory: Path, name: str = "service-account.json") -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = directory / name
    info = {
        "type": "service_account",
        "project_id": "gateway-tests",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",  # never used: the tests are anonymous
    }
    path.write_text(json.dumps(info))
    return path
