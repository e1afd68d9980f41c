"""azure-storage-blob's failures in the store vocabulary: the one translation the Azure store
applies (`AzureBlobStore._call`). Azure's error code (`x-ms-error-code`, `HttpResponseError
.error_code`) becomes the store error's `code`; messages carry URLs, never keys, and
`gateway.redact` masks any secret anyway when the error is logged or answered."""

from __future__ import annotations

import aiohttp
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    RangeNotSatisfiable,
    StoreError,
    missing_file,
)

FAILURES = (AzureError, aiohttp.ClientError, OSError, TimeoutError)


def translate(exc: BaseException, uri: str, name: str, path: str) -> StoreError:
    """One store error for one SDK failure; the caller chains `exc` as its cause."""
    where = {"destination": name}
    code = str(getattr(exc, "error_code", None) or "")
    status = getattr(exc, "status_code", None) or 0
    if isinstance(exc, ResourceNotFoundError) and code not in ("ContainerNotFound",):
        return missing_file(path, code=code or "BlobNotFound", **where)
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return CredentialsRefused(
            f"Destination {uri} refused the request: {code or status}",
            code=code or str(status),
            **where,
        )
    if status == 416:
        return RangeNotSatisfiable(-1, code=code, **where)
    if isinstance(exc, HttpResponseError) and 400 <= status < 500 and code != "ContainerNotFound":
        return InvalidRequest(f"Azure refused the request on '{path}': {code or status}", **where)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, aiohttp.ClientError, OSError)):
        return DestinationUnavailable(
            f"Destination {uri} is unreachable: {type(exc).__name__}", **where
        )
    if status:
        return DestinationUnavailable(
            f"Destination {uri} refused the request: {code or status}", code=code, **where
        )
    return DestinationUnavailable(f"Destination {uri} failed: {type(exc).__name__}", **where)
