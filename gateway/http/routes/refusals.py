"""Writes MLflow 3.18 refuses on every server, and transfers refused in presigned-only mode.

Both answer 403 in 3.18's words, so its client and UI react as they do to `mlflow server`.
"""

from __future__ import annotations

import urllib.parse

from gateway.errors import PermissionDenied, PresignedOnly
from gateway.stores import ArtifactStore

SKILLS_IMMUTABLE = "Skill upload content is immutable; register a new version instead"


def is_skill_namespace(path: str) -> bool:
    """3.18's `is_skill_upload_namespace`: `skills/...` or `workspaces/<ws>/skills/...`, any case,
    after percent-decoding and without empty or `.` segments."""
    segments = [s for s in urllib.parse.unquote(path).split("/") if s not in ("", ".")]
    if len(segments) >= 3 and segments[0].lower() == "workspaces":
        segments = segments[2:]
    return bool(segments) and segments[0].lower() == "skills"


def refuse_skill_mutation(*paths: str) -> None:
    """Published skill versions are immutable: PUT, DELETE and `mpu/*` into them are refused."""
    if any(is_skill_namespace(path) for path in paths):
        raise PermissionDenied(SKILLS_IMMUTABLE)


def refuse_proxied(store: ArtifactStore, direction: str) -> ArtifactStore:
    """A presigned-only destination's bytes never pass through the gateway; `direction` is
    `upload` or `download`, as in MLflow's two messages."""
    if store.presigned_only:
        raise PresignedOnly(direction)
    return store
