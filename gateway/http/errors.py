"""Every failure a client sees is MLflow's JSON error shape; never a traceback, never a secret.

Store errors are translated to HTTP here and only here, and logged here, once, with the
destination name and the backend's error code.
"""

from __future__ import annotations

import logging

from aiohttp import ClientPayloadError, web
from aiohttp.typedefs import Handler

from gateway.error_classes import classification
from gateway.errors import ApiError
from gateway.metrics import collectors
from gateway.redact import redact
from gateway.stores import errors as store
from gateway.upstream.client import UPSTREAM

log = logging.getLogger(__name__)

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "INVALID_PARAMETER_VALUE",
}
# Most specific first: the first class an error is an instance of decides.
STORE_ANSWERS: tuple[tuple[type[store.StoreError], int, str], ...] = (
    (store.NotFound, 404, "RESOURCE_DOES_NOT_EXIST"),
    (store.RangeNotSatisfiable, 416, "INVALID_PARAMETER_VALUE"),
    (store.InvalidRequest, 400, "INVALID_PARAMETER_VALUE"),
    (store.IncompleteBody, 400, "BAD_REQUEST"),
    (store.AlreadyExists, 409, "RESOURCE_ALREADY_EXISTS"),
    (store.StorageFull, 507, "RESOURCE_EXHAUSTED"),
    (store.DestinationUnavailable, 503, "TEMPORARILY_UNAVAILABLE"),  # CredentialsRefused too
    (store.StoreError, 503, "TEMPORARILY_UNAVAILABLE"),
)
ARTIFACTS_ONLY = "this gateway serves MLflow artifacts only (no --tracking-uri is configured)"


def error_json(
    status: int, error_code: str, message: str, extra: dict[str, object] | None = None
) -> web.Response:
    """MLflow's body: code, message, and 3.18's `sqlstate`/`error_class` for that code."""
    body = {"error_code": error_code, "message": redact(message)}
    body |= classification(error_code) | (extra or {})
    return web.json_response(body, status=status)


def store_answer(request: web.Request, exc: store.StoreError) -> web.Response:
    """The one translation of a store error to HTTP, logged once where it is translated."""
    status, code = next((s, c) for kind, s, c in STORE_ANSWERS if isinstance(exc, kind))
    collectors().backend_errors.labels(exc.destination or "-", exc.code or "-").inc()
    level = logging.WARNING if status >= 500 else logging.DEBUG
    log.log(
        level,
        "%s %s: destination %s: %s: %s [backend code %s]",
        request.method,
        request.path,
        exc.destination or "?",
        type(exc).__name__,
        exc.message,
        exc.code or "-",
    )
    return error_json(status, code, exc.message)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_json(exc.status, exc.error_code, exc.message, exc.extra)
        for name, value in exc.headers:
            response.headers.add(name, value)
        if exc.close_connection:
            response.force_close()
        return response
    except store.StoreError as exc:
        return store_answer(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"No endpoint {request.method} {request.path}"
            if UPSTREAM not in request.app:
                message += f": {ARTIFACTS_ONLY}"
        elif exc.status == 405:
            message = f"Method {request.method} is not allowed on {request.path}"
        return error_json(exc.status, _CODES.get(exc.status, "BAD_REQUEST"), message)
    except (ClientPayloadError, ConnectionResetError) as exc:
        log.info("%s %s: request body ended early: %s", request.method, request.path, exc)
        return error_json(400, "BAD_REQUEST", f"The request body ended early: {exc}")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_json(500, "INTERNAL_ERROR", "Internal error; the gateway log has details")
