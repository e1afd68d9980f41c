"""Errors answered to clients, with HTTP status and MLflow's error codes.

Stores never raise these: their vocabulary is `gateway.stores.errors`.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """Rendered as MLflow's `{"error_code": ..., "message": ...}` with `status`."""

    status = 400
    error_code = "INVALID_PARAMETER_VALUE"
    headers: tuple[tuple[str, str], ...] = ()
    extra: ClassVar[dict[str, object]] = {}  # fields beside error_code and message (MLflow's)
    close_connection = False  # the bytes after the request line cannot be trusted as HTTP

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(ApiError):
    pass


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


class PresignedOnly(PermissionDenied):
    """MLflow 3.18's refusal of a proxied transfer in presigned-only mode, field for field: its
    UI reloads its settings on `artifacts_presigned_only` (mlflow/server/artifact_transfer.py)."""

    extra: ClassVar[dict[str, object]] = {
        "sqlstate": "KAM00",
        "error_class": "PERMISSION_DENIED",
        "artifacts_presigned_only": True,
    }

    def __init__(self, direction: str) -> None:
        where = "downloaded directly from" if direction == "download" else "uploaded directly to"
        super().__init__(
            f"This server requires artifacts to be {where} storage. Upgrade your MLflow client to "
            "match this server (MLflow 3.18.0) or a newer version with presigned-only artifact "
            f"support, then retry the {direction}. If you are using the MLflow UI, reload the page "
            "to refresh the server settings."
        )


class Busy(ApiError):
    """Too many of something wait or run already (credential checks; one user's requests or
    tracking-server connections): the client is asked to come back shortly."""

    status = 429
    error_code = "RESOURCE_EXHAUSTED"
    headers = (("Retry-After", "1"),)


class MethodRefused(ApiError):
    """CONNECT, TRACE and methods neither the gateway nor MLflow serve: never passed on."""

    status = 405
    error_code = "BAD_REQUEST"
    close_connection = True

    def __init__(self, method: str) -> None:
        super().__init__(f"Method {method} is not served here")


class MultipartUnsupported(ApiError):
    """MLflow's words: on exactly this message its client falls back to single requests."""

    status = 501
    error_code = "NOT_IMPLEMENTED"

    def __init__(self, what: str) -> None:
        super().__init__(f"Multipart {what} is not supported for the current artifact repository")


class UpstreamError(ApiError):
    """The tracking server behind the gateway failed: unreachable (502), too slow (504), or it
    refused a lookup, in which case its own status and error code are kept."""

    def __init__(
        self, message: str, status: int = 502, error_code: str = "TEMPORARILY_UNAVAILABLE"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
