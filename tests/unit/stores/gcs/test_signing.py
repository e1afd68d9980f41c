"""Our V4 signer against google-cloud-storage's (`_signing.generate_signed_url_v4`): the same
key, time, method and object give the same URL, byte for byte."""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud.storage import _signing
from google.oauth2 import service_account

from gateway.stores.gcs.auth import SigningKey
from gateway.stores.gcs.signing import MAX_EXPIRES, signed_url
from tests.helpers.gcs_keys import service_account_file

NOW = datetime(2026, 12, 7, 6, 30, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    return service_account_file(tmp_path_factory.mktemp("key"))


@pytest.fixture(scope="module")
def keys(key_file):
    """Ours and google-auth's, each loaded once (an RSA key check costs ~0.1 s)."""
    info = json.loads(key_file.read_text())
    return SigningKey.from_file(key_file), service_account.Credentials.from_service_account_info(
        info
    )


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize(
    ("endpoint", "name"),
    [
        ("https://storage.googleapis.com", "ml/1/run/artifacts/model.pkl"),
        ("http://127.0.0.1:4443", "ml/données/模型 ü+%.txt"),
    ],
)
def test_urls_equal_google_cloud_storage(keys, method, endpoint, name):
    key, credentials = keys
    ours = signed_url(key, endpoint, "bkt", name, method, 900, NOW)
    theirs = _signing.generate_signed_url_v4(
        credentials,
        f"/bkt/{urllib.parse.quote(name.encode(), safe=b'/~')}",  # as Blob.generate_signed_url
        expiration=timedelta(seconds=900),
        api_access_endpoint=endpoint,
        method=method,
        _request_timestamp=NOW.strftime("%Y%m%dT%H%M%SZ"),
    )
    assert ours == theirs


def test_expiry_is_capped_at_seven_days(keys):
    url = signed_url(keys[0], "https://x", "b", "o", "GET", 10**9, NOW)
    assert f"X-Goog-Expires={MAX_EXPIRES}&" in url


def test_a_file_that_is_not_a_service_account_key_is_refused(tmp_path):
    path = tmp_path / "user.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    with pytest.raises(ValueError, match="client_email missing"):
        SigningKey.from_file(path)
