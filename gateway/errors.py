"""Errors a client can cause or a destination can return, with MLflow's error codes."""

from __future__ import annotations


class ApiError(Exception):
    """Rendered as MLflow's `{"error_code": ..., "message": ...}` with `status`."""

    status = 400
    error_code = "INVALID_PARAMETER_VALUE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(ApiError):
    pass


class NotFound(ApiError):
    status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class DestinationUnavailable(ApiError):
    """The destination is unreachable or refuses us: the client may retry later."""

    status = 503
    error_code = "TEMPORARILY_UNAVAILABLE"


class IncompleteBody(ApiError):
    error_code = "BAD_REQUEST"


class MultipartUnsupported(ApiError):
    """MLflow's words: on exactly this message its client falls back to single requests."""

    status = 501
    error_code = "NOT_IMPLEMENTED"

    def __init__(self, what: str) -> None:
        super().__init__(f"Multipart {what} is not supported for the current artifact repository")


class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside a file of `size` bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size
