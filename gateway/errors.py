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


class PermissionDenied(ApiError):
    status = 403
    error_code = "PERMISSION_DENIED"


class PayloadTooLarge(ApiError):
    status = 413


class LengthRequired(ApiError):
    status = 411
    error_code = "BAD_REQUEST"


class NotImplementedByDestination(ApiError):
    """MLflow clients fall back to single-request transfers on these exact messages."""

    status = 501
    error_code = "NOT_IMPLEMENTED"


class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside a file of `size` bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size
