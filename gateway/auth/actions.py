"""What a request does to artifacts, and MLflow's permissions, which grant sets of these."""

from __future__ import annotations

import enum


class Action(enum.Enum):
    READ = "read"  # get, head, list
    WRITE = "write"  # upload, multipart upload
    DELETE = "delete"


class Permission(str, enum.Enum):
    """MLflow's permission names, with MLflow's meaning."""

    READ = "READ"
    EDIT = "EDIT"
    MANAGE = "MANAGE"
    NO_PERMISSIONS = "NO_PERMISSIONS"

    def allows(self, action: Action) -> bool:
        return action in _GRANTS[self]


_GRANTS = {
    Permission.READ: {Action.READ},
    Permission.EDIT: {Action.READ, Action.WRITE},
    Permission.MANAGE: {Action.READ, Action.WRITE, Action.DELETE},
    Permission.NO_PERMISSIONS: set(),
}
