"""GCS JSON API failures in the store vocabulary: the one translation the GCS store applies
(`GcsBlobStore._call`). GCS's `error.errors[0].reason` becomes the store error's `code`;
messages name the destination URI, never a token or key (`gateway.redact` masks them anyway)."""

from __future__ import annotations

import aiohttp

from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    RangeNotSatisfiable,
    StoreError,
    missing_file,
)

FAILURES = (aiohttp.ClientError, OSError, TimeoutError)


class GcsHttpError(Exception):
    """A non-2xx answer of the JSON API: its status and GCS's reason, if the body named one."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason


def translate(exc: BaseException, uri: str, name: str, path: str) -> StoreError:
    """One store error for one failure; the caller chains `exc` as its cause."""
    where = {"destination": name}
    if not isinstance(exc, GcsHttpError):
        return DestinationUnavailable(
            f"Destination {uri} is unreachable: {type(exc).__name__}", **where
        )
    status, code = exc.status, exc.reason
    if status == 404:
        return missing_file(path, code=code or "notFound", **where)
    if status in (401, 403):
        return CredentialsRefused(
            f"Destination {uri} refused the request: {code or status}",
            code=code or str(status),
            **where,
        )
    if status == 416:
        return RangeNotSatisfiable(-1, code=code, **where)
    if status == 412:  # a generation precondition: the object changed under the request
        return missing_file(path, code=code or "conditionNotMet", **where)
    if 400 <= status < 500 and status != 429:
        return InvalidRequest(f"GCS refused the request on '{path}': {code or status}", **where)
    return DestinationUnavailable(
        f"Destination {uri} refused the request: {code or status}", code=code, **where
    )
