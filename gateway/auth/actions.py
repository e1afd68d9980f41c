"""What a request does to artifacts; permissions grant sets of these."""

from __future__ import annotations

import enum


class Action(enum.Enum):
    READ = "read"  # get, head, list
    WRITE = "write"  # upload, multipart upload
    DELETE = "delete"
