"""Errors a client can cause or a destination can return, with MLflow's error codes."""

from __future__ import annotations


class ApiError(Exception):
    """Rendered as MLflow's `{"error_code": ..., "message": ...}` with `status`."""

    status = 400
    error_code = "INVALID_PARAMETER_VALUE"
    headers: tuple[tuple[str, str], ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(ApiError):
    pass


class NotFound(ApiError):
    status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class UnknownUpload(NotFound):
    """A multipart upload id that no store knows for this path: the same words on every store."""

    def __init__(self, path: str, upload_id: str) -> None:
        super().__init__(
            f"No multipart upload {upload_id[:200]!r} to '{path}': unknown, completed or aborted"
        )


class Unauthenticated(ApiError):
    """No credentials, or credentials of nobody: the client is told how to authenticate."""

    status = 401
    error_code = "UNAUTHENTICATED"

    def __init__(self, message: str, realm: str) -> None:
        super().__init__(message)
        self.headers = tuple(
            ("WWW-Authenticate", f'{scheme} realm="{realm}"') for scheme in ("Basic", "Bearer")
        )


class PermissionDenied(ApiError):
    status = 403
    error_code = "PERMISSION_DENIED"


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


class UpstreamError(ApiError):
    """The tracking server behind the gateway failed: unreachable (502), too slow (504), or it
    refused a lookup, in which case its own status and error code are kept."""

    def __init__(
        self, message: str, status: int = 502, error_code: str = "TEMPORARILY_UNAVAILABLE"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
