"""gateway/auth/config.py: permissions as MLflow grants them, and user entries that are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.auth.actions import Action
from gateway.auth.config import AuthConfig, Permission, UserConfig
from tests.helpers.credentials import CI_HASH


def test_permissions_grant_what_mlflow_grants():
    assert [p.allows(Action.READ) for p in Permission] == [True, True, True, False]
    assert [p.allows(Action.WRITE) for p in Permission] == [False, True, True, False]
    assert [p.allows(Action.DELETE) for p in Permission] == [False, False, True, False]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"name": "a"}, "needs a password_hash or a token_hash"),
        ({"name": "a", "password_hash": "plain"}, "not a hash from"),
        ({"name": "a", "token_hash": CI_HASH, "permissions": {"x": "READ"}}, "not an experiment"),
        ({"name": "a", "token_hash": CI_HASH, "permissions": {"7": "WRITE"}}, "Input should be"),
        (
            {"name": "a", "token_hash": CI_HASH, "permissions": {"1-9": "READ", "5": "EDIT"}},
            "overlap",
        ),
        ({"name": "a:b", "token_hash": CI_HASH}, "should match pattern"),
    ],
)
def test_invalid_users_are_refused(entry, fragment):
    with pytest.raises(ValidationError, match=fragment):
        UserConfig.model_validate(entry)


def test_user_names_are_unique():
    user = {"name": "a", "token_hash": CI_HASH}
    with pytest.raises(ValidationError, match="unique"):
        AuthConfig.model_validate({"users": [user, user]})
