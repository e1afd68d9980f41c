"""The Azure store's one translation of SDK failures into the store vocabulary."""

from __future__ import annotations

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from gateway.stores.azure.errors import translate
from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    NotFound,
    RangeNotSatisfiable,
)

URI = "wasbs://c@acct.blob.core.windows.net/p"


def failure(kind: type, status: int, code: str) -> Exception:
    exc = kind(message=f"{status} {code}")
    exc.status_code = status
    exc.error_code = code
    return exc


def test_each_failure_becomes_one_store_error_naming_the_destination():
    cases = [
        (failure(ResourceNotFoundError, 404, "BlobNotFound"), NotFound),
        (failure(ResourceNotFoundError, 404, "ContainerNotFound"), DestinationUnavailable),
        (failure(ClientAuthenticationError, 403, "AuthenticationFailed"), CredentialsRefused),
        (failure(HttpResponseError, 416, "InvalidRange"), RangeNotSatisfiable),
        (failure(HttpResponseError, 400, "InvalidBlockList"), InvalidRequest),
        (failure(HttpResponseError, 503, "ServerBusy"), DestinationUnavailable),
        (ServiceRequestError("connection refused"), DestinationUnavailable),
        (aiohttp.ClientConnectionError("reset"), DestinationUnavailable),
    ]
    for exc, kind in cases:
        error = translate(exc, URI, "nlp", "a/b.bin")
        assert type(error) is kind, (exc, error)
        assert error.destination == "nlp"
        if kind in (CredentialsRefused, DestinationUnavailable):
            assert URI in error.message
    assert translate(cases[0][0], URI, "nlp", "a/b.bin").code == "BlobNotFound"
