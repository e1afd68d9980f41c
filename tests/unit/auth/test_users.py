"""gateway/auth/users.py: a user's permission on a tenancy key, by selector and '*'."""

from __future__ import annotations

from gateway.auth.actions import Action
from gateway.auth.config import Permission, UserConfig
from gateway.auth.users import User
from gateway.tenancy import key_of
from tests.helpers.credentials import ALICE_HASH, CI_HASH


def _on(user: User, path: str) -> Permission:
    return user.permission_on(key_of(path))


def test_user_permissions_by_id_range_and_default():
    config = UserConfig(
        name="alice",
        password_hash=ALICE_HASH,
        permissions={"7": "EDIT", "10-20": "MANAGE", "*": "READ"},
    )
    user = User.from_config(config)
    assert _on(user, "7/r") is Permission.EDIT
    assert _on(user, "10") is _on(user, "20/x") is Permission.MANAGE
    assert _on(user, "21") is Permission.READ
    # Only canonical IDs match a numbered rule: '007' is another experiment, '*' applies.
    assert _on(user, "007") is Permission.READ
    assert _on(user, "models") is Permission.READ
    nobody_else = User.from_config(
        UserConfig(name="ci", token_hash=CI_HASH, permissions={"2": "READ"})
    )
    assert _on(nobody_else, "3") is Permission.NO_PERMISSIONS
    assert not nobody_else.may(Action.READ, key_of("3")) and nobody_else.may(
        Action.READ, key_of("2/r")
    )


def test_workspace_and_prefix_permissions_and_what_star_covers():
    user = User.from_config(
        UserConfig(
            name="alice",
            password_hash=ALICE_HASH,
            permissions={
                "workspace:team-a": "EDIT",
                "workspace:team-a:3": "NO_PERMISSIONS",
                "prefix:team-x/": "MANAGE",
                "*": "READ",
            },
        )
    )
    assert _on(user, "workspaces/team-a/9/r") is Permission.EDIT
    assert _on(user, "workspaces/team-a/3/r") is Permission.NO_PERMISSIONS
    assert _on(user, "team-x/m") is Permission.MANAGE
    # a prefix names less than a whole workspace, so it wins there too
    assert _on(user, "workspaces/team-a/team-x/m") is Permission.MANAGE
    assert _on(user, "workspaces/team-b/9/r") is Permission.READ  # no selector: '*'
    assert _on(user, "9/r") is Permission.READ
    without_star = User.from_config(
        UserConfig(name="bob", password_hash=ALICE_HASH, permissions={"workspace:team-a": "READ"})
    )
    assert _on(without_star, "workspaces/team-b/1") is Permission.NO_PERMISSIONS
    assert _on(without_star, "team-x/1") is Permission.NO_PERMISSIONS
