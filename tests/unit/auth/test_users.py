"""gateway/auth/users.py: a user's permission on an experiment, by ID, range and default."""

from __future__ import annotations

from gateway.auth.actions import Action
from gateway.auth.config import Permission, UserConfig
from gateway.auth.users import User
from tests.helpers.credentials import ALICE_HASH, CI_HASH


def test_user_permissions_by_id_range_and_default():
    config = UserConfig(
        name="alice",
        password_hash=ALICE_HASH,
        permissions={"7": "EDIT", "10-20": "MANAGE", "*": "READ"},
    )
    user = User.from_config(config)
    assert user.permission_on("7") is Permission.EDIT
    assert user.permission_on("10") is user.permission_on("20") is Permission.MANAGE
    assert user.permission_on("21") is Permission.READ
    # Only canonical IDs match a numbered rule: '007' is another experiment, '*' applies.
    assert user.permission_on("007") is Permission.READ
    assert user.permission_on("models") is Permission.READ
    nobody_else = User.from_config(
        UserConfig(name="ci", token_hash=CI_HASH, permissions={"2": "READ"})
    )
    assert nobody_else.permission_on("3") is Permission.NO_PERMISSIONS
    assert not nobody_else.may(Action.READ, "3") and nobody_else.may(Action.READ, "2")
