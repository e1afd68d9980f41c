"""gateway/auth/passwords.py: scrypt hashes of passwords and tokens, and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.auth.config import UserConfig
from gateway.auth.passwords import ScryptHash, TokenHash, hash_secret, hash_token, verify
from tests.helpers.credentials import ALICE_HASH


def test_hash_round_trip_with_fresh_salt_each_time():
    again = hash_secret("alice-secret")
    assert again != ALICE_HASH and again.startswith("scrypt$16384$8$1$")
    assert verify("alice-secret", ALICE_HASH) and verify("alice-secret", again)
    assert not verify("alice-secret ", ALICE_HASH) and not verify("", ALICE_HASH)
    assert verify("pässwörd", hash_secret("pässwörd", n=2**10))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-password",
        "bcrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$not base64$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",  # n not a power of two
        "scrypt$16384$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",  # salt too short
        "scrypt$x$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1048576$32$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",  # 4 GiB per check
    ],
)
def test_malformed_hashes_are_refused_without_echoing_them(encoded):
    with pytest.raises(ValueError) as raised:
        ScryptHash.parse(encoded)
    assert not encoded or encoded not in str(raised.value)


def test_token_hash_format_keeps_the_lookup_id_beside_the_scrypt_hash():
    encoded = hash_token("a-token", n=2**4)
    parsed = TokenHash.parse(encoded)
    assert str(parsed) == encoded and parsed.matches("a-token") and not parsed.matches("a-toke")
    assert TokenHash.parse(hash_secret("a-token", n=2**4)).lookup is None
    for broken in (encoded.replace("$", "$x", 1), "scrypt-t$" + "0" * 16 + "$garbage"):
        with pytest.raises(ValueError) as raised:
            TokenHash.parse(broken)
        assert broken not in str(raised.value)
    with pytest.raises(ValidationError, match="belongs in token_hash"):
        UserConfig(name="a", password_hash=encoded)
