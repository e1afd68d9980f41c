"""The store boundary's error vocabulary: every store raises only these, with the cause chained.

They say what happened, not how to answer it: `gateway.http.errors` turns each kind into one
HTTP status and logs it there, once, with the destination name and the backend's error code.
"""

from __future__ import annotations


class StoreError(Exception):
    """`destination` is the configured name; `code` is the backend's own error code, if any."""

    def __init__(self, message: str, *, destination: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.destination = destination
        self.code = code


class NotFound(StoreError):
    """No file (or upload) at the path."""


def missing_file(path: str, **where: str) -> NotFound:
    """No file at `path`, in the same words on every store (MLflow's local store says them)."""
    return NotFound(f"No such file or directory: '{path}'", **where)


class UnknownUpload(NotFound):
    """A multipart upload id that no store knows for this path: the same words on every store."""

    def __init__(self, path: str, upload_id: str, **where: str) -> None:
        super().__init__(
            f"No multipart upload {upload_id[:200]!r} to '{path}': unknown, completed or aborted",
            **where,
        )


class RangeNotSatisfiable(StoreError):
    """The requested byte range lies outside a file of `size` bytes (-1: not known yet)."""

    def __init__(self, size: int, **where: str) -> None:
        super().__init__(f"Range not satisfiable: {size} bytes", **where)
        self.size = size


class InvalidRequest(StoreError):
    """The request cannot apply to what is stored: a directory read as a file, a parent that is
    a file, parts the backend refuses, a body too large for the backend's limits."""


class AlreadyExists(StoreError):
    """A write-once path already holds a file: no overwrite, no delete (409)."""


class IncompleteBody(StoreError):
    """The upload body ended before its declared length: nothing was stored."""


class DestinationUnavailable(StoreError):
    """The destination is unreachable, missing, or failed; a later retry may succeed."""

    @classmethod
    def of(cls, uri: str, what: str, exc: StoreError, destination: str) -> DestinationUnavailable:
        """A readiness check's answer: `what` (bucket, container) failed with `exc`."""
        message = f"{uri}: {what} unavailable ({exc.code or exc.message})"
        return cls(message, destination=destination, code=exc.code)


class CredentialsRefused(DestinationUnavailable):
    """The destination refused the gateway's own credentials (or the local process's rights)."""


class StorageFull(StoreError):
    """The destination has no room: disk full, quota or file-size limit reached."""
