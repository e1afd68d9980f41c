"""The names a store that stages uploads beside its files keeps for itself (pyarrow, SFTP,
FTP): its temp files at the base (`.gateway-upload.<32 hex>`) and its digest sidecars
(`.<name>.gateway-sha256`) anywhere. No artifact path may name them, and no listing shows them.
"""

from __future__ import annotations

import posixpath
import re

from gateway.stores.errors import InvalidRequest
from gateway.stores.sidecars import SIDECAR

TEMP_PREFIX = ".gateway-upload"
TEMP_NAME = re.compile(r"^\.gateway-upload\.[0-9a-f]{32}$")


def full_path(base: str, path: str, destination: str) -> str:
    """`path` under `base`; a path through one of the store's own names is a 400."""
    segments = path.split("/") if path else []
    if segments[:1] and segments[0].startswith(TEMP_PREFIX):
        what = "temp files"
    elif any(SIDECAR.match(segment) for segment in segments):
        what = "digest files"
    else:
        return posixpath.join(base, *segments) if segments else base
    raise InvalidRequest(
        f"Invalid artifact path {path!r}: names of the gateway's {what} are reserved",
        destination=destination,
    )


def hidden(name: str, at_base: bool) -> bool:
    """Whether a listing leaves `name` out (temp files live at the base only)."""
    return bool(SIDECAR.match(name) or (at_base and TEMP_NAME.match(name)))
