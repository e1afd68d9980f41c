"""pyarrow's failures in the store vocabulary: the one translation `ArrowStore._call` applies.

pyarrow raises `OSError` subclasses (`FileNotFoundError`, `PermissionError`, …) for most
failures, with the backend's own words in the message (Azure: `ErrorCode: AuthenticationFailed`;
GCS: `google::cloud::Status(PERMISSION_DENIED: …)`; HDFS: the Java exception), and
`ArrowException`s for the rest. Messages carry URLs, never keys; `gateway.redact` masks any
secret anyway when the error is logged or answered.
"""

from __future__ import annotations

import errno
import re

from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    StorageFull,
    StoreError,
    missing_file,
)

_AZURE_CODE = re.compile(r"ErrorCode:\s*(\w+)|\b(\d{3}) (?:\w+ )*[Ff]ailed")
_GCS_CODE = re.compile(r"Status\((\w+):|\b(k[A-Z]\w+)\b")
_REFUSED = re.compile(
    r"AuthenticationFailed|AuthorizationFailure|AuthorizationPermissionMismatch|"
    r"PERMISSION_DENIED|kPermissionDenied|UNAUTHENTICATED|kUnauthenticated|"
    r"AccessControlException|\b403\b|\b401\b|InsufficientAccountPermissions"
)
_MISSING_ROOT = re.compile(r"ContainerNotFound|BucketNotFound|The specified bucket does not exist")
_FULL = re.compile(r"DSQuotaExceeded|NSQuotaExceeded|InsufficientStorage|quota", re.IGNORECASE)
_MAX_MESSAGE = 600


def backend_code(exc: BaseException) -> str:
    """The backend's own error code if the message names one, else errno's or the type's name."""
    text = str(exc)
    for pattern in (_AZURE_CODE, _GCS_CODE):
        if match := pattern.search(text):
            return next(group for group in match.groups() if group)
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
    return type(exc).__name__


def translate(exc: BaseException, uri: str, destination: str, path: str) -> StoreError:
    """`exc` is an OSError or ArrowException from pyarrow; the cause is chained by the caller."""
    code = backend_code(exc)
    where = {"destination": destination, "code": code}
    detail = " ".join(str(exc).split())[:_MAX_MESSAGE]
    if isinstance(exc, FileNotFoundError) and not _MISSING_ROOT.search(detail):
        return missing_file(path, **where)
    if isinstance(exc, (NotADirectoryError, IsADirectoryError)):
        return InvalidRequest(f"Cannot use '{path}': a file and a directory collide", **where)
    if isinstance(exc, PermissionError) or _REFUSED.search(detail):
        return CredentialsRefused(f"Destination {uri} refused the request: {detail}", **where)
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or _FULL.search(
        detail
    ):
        return StorageFull(f"Destination {uri} is full: {detail}", **where)
    if _MISSING_ROOT.search(detail):
        return DestinationUnavailable(f"Destination {uri} refused the request: {detail}", **where)
    return DestinationUnavailable(f"Destination {uri} failed: {detail}", **where)
