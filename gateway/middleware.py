"""Every failure a client sees is MLflow's JSON error shape; never a traceback, never a secret."""

from __future__ import annotations

import logging

from aiohttp import ClientPayloadError, web
from aiohttp.typedefs import Handler

from gateway.errors import ApiError
from gateway.redact import redact
from gateway.upstream import UPSTREAM

log = logging.getLogger(__name__)

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "INVALID_PARAMETER_VALUE",
}
ARTIFACTS_ONLY = "this gateway serves MLflow artifacts only (no --tracking-uri is configured)"


def error_json(status: int, error_code: str, message: str) -> web.Response:
    return web.json_response({"error_code": error_code, "message": redact(message)}, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_json(exc.status, exc.error_code, exc.message)
        for name, value in exc.headers:
            response.headers.add(name, value)
        return response
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
