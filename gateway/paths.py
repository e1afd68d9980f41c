"""Artifact path safety: every path is normalised and must stay inside its destination.

The shapes come from MLflow's advisories (CVE-2023-1177, CVE-2023-6909, CVE-2024-1483,
CVE-2024-3848): dot segments, absolute paths, backslashes, drive letters, encoded separators.
Every check is one linear pass (regular expressions and `split`, no per-character Python loop)
over at most MAX_LENGTH characters.
"""

from __future__ import annotations

import re

from gateway.errors import InvalidParameter

# Encoded dot, slash, backslash and NUL are refused outright, in the raw URL and after decoding
# (a second decode by any layer below would turn them into traversal).
_ENCODED_DANGER = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
# Longer than any destination takes (an S3 key has at most 1,024 bytes, a Linux path 4,096).
MAX_LENGTH = 4096


def _refuse(path: str, why: str) -> InvalidParameter:
    shown = path if len(path) <= 200 else path[:200] + "..."
    return InvalidParameter(f"Invalid artifact path {shown!r}: {why}")


def check_raw(raw: str) -> None:
    """Checks the still-encoded form, where `%2e%2e` and `%2f` can be seen."""
    if _ENCODED_DANGER.search(raw):
        raise _refuse(raw, "percent-encoded dots, separators or NUL are not allowed")


def normalize(path: str, *, allow_empty: bool = True) -> str:
    """Returns the path as `a/b/c` (no leading, trailing or doubled slashes) or raises 400."""
    if len(path) > MAX_LENGTH:
        raise _refuse(path, f"longer than {MAX_LENGTH} characters")
    if _ENCODED_DANGER.search(path):
        raise _refuse(path, "percent-encoded dots, separators or NUL are not allowed")
    if _CONTROL.search(path):
        raise _refuse(path, "control characters are not allowed")
    if "\\" in path:
        raise _refuse(path, "backslashes are not allowed")
    if path.startswith("/"):
        raise _refuse(path, "absolute paths are not allowed")
    if _DRIVE.match(path):
        raise _refuse(path, "drive letters are not allowed")
    if _SCHEME.match(path):
        raise _refuse(path, "URIs are not allowed; give a path relative to the root")
    if "#" in path:
        raise _refuse(path, "'#' is not allowed")
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise _refuse(path, "'.' and '..' segments are not allowed")
    if any(segment.strip() != segment or not segment.strip() for segment in segments):
        raise _refuse(path, "segments must not start or end with white space")
    if not segments and not allow_empty:
        raise _refuse(path, "a path is required")
    return "/".join(segments)


def parent_dirs(path: str) -> list[str]:
    """`a/b/c` -> [`a/b`, `a`]: the directories above an artifact, deepest first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
