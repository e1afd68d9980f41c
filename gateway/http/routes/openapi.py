"""`/openapi.json`: the gateway's own HTTP API as an OpenAPI 3.0 document.

Built once from the small tables below, so the fuzzing suite (tests/test_openapi_fuzz.py) and
readers see the same contract: every answer that is not a file or `OK` is JSON, and every error
is MLflow's `{"error_code", "message"}`. The `/ajax-api/2.0/...` twins of the artifact routes
and the tracking-server passthrough are left out (the latter is MLflow's own API).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.http.guard import Open, add
from gateway.stores.capabilities import MAX_PARTS
from gateway.tenancy import HEADER as WORKSPACE_HEADER

_BASE = "/api/2.0/mlflow-artifacts"
_ERROR_STATUSES = ("400", "401", "403", "404", "405", "408", "411", "413", "416", "429")
_UNAVAILABLE = ("501", "502", "503", "504", "507")

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_PARTS = {"type": "integer", "minimum": 1, "maximum": MAX_PARTS}

SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        ["error_code", "message"], error_code=_STR, message=_STR, sqlstate=_STR, error_class=_STR
    ),
    "Empty": _obj(),
    "FileInfo": _obj(["path", "is_dir"], path=_STR, is_dir=_BOOL, file_size=_INT),
    "Listing": _obj(files={"type": "array", "items": _ref("FileInfo")}),
    "PartLink": _obj(
        ["part_number", "url", "headers"], part_number=_PARTS, url=_STR, headers=_obj()
    ),
    "CreateRequest": _obj(["path", "num_parts"], path=_STR, num_parts={**_PARTS, "minimum": 0}),
    "Created": _obj(
        ["upload_id", "credentials"],
        upload_id=_STR,
        credentials={"type": "array", "items": _ref("PartLink")},
    ),
    "CompleteRequest": _obj(
        ["path", "upload_id", "parts"],
        path=_STR,
        upload_id=_STR,
        parts={
            "type": "array",
            "items": _obj(["part_number"], part_number=_PARTS, etag=_STR),
        },
    ),
    "AbortRequest": _obj(["path", "upload_id"], path=_STR, upload_id=_STR),
    "Presigned": _obj(["url", "headers", "file_size"], url=_STR, headers=_obj(), file_size=_INT),
    "Ready": _obj(
        ["ready"],
        ready=_BOOL,
        upstream={"type": "object", "nullable": True},
        destinations={"type": "array", "items": _obj(["name", "uri", "ready"])},
    ),
    "ServerInfo": _obj(multipart_uploads_enabled=_BOOL, multipart_downloads_enabled=_BOOL),
}


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _responses(ok: dict[str, Any]) -> dict[str, Any]:
    """`ok` plus MLflow's error body for every error status the gateway may give."""
    errors = {code: {"description": "an error", **_json("Error")} for code in _ERROR_STATUSES}
    down = {code: {"description": "unavailable", **_json("Error")} for code in _UNAVAILABLE}
    return {**ok, **errors, **down}


_FILE = {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
_TEXT = {"content": {"text/plain": {"schema": _STR}}}
_PATH = {"name": "path", "in": "path", "required": True, "schema": _STR}
_SIGNED = [
    {"name": name, "in": "query", "required": True, "schema": _STR}
    for name in ("expires", "signature")
]
_PART_QUERY = [
    {"name": "upload_id", "in": "query", "required": True, "schema": _STR},
    {"name": "part_number", "in": "query", "required": True, "schema": _PARTS},
    *_SIGNED,
]
_RANGE = [
    {"name": header, "in": "header", "required": False, "schema": _STR}
    for header in ("Range", "If-Range", "If-None-Match", "If-Match")
]


def _op(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": _responses(ok), **extra}


def _file_ops(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    """GET and HEAD of one file: 200 or 206 with the bytes, 304 / 412 without."""
    ok = {
        "200": {"description": "the file", **_FILE},
        "206": {"description": "one range", **_FILE},
        "304": {"description": "not modified"},
        "412": {"description": "precondition failed", **_json("Error")},
    }
    head = {"200": {"description": "the file's headers"}, "304": {"description": "not modified"}}
    head |= {"206": {"description": "one range's headers"}, "412": {"description": "failed"}}
    return {
        "parameters": [_PATH, *params],
        "get": _op(summary, ok, parameters=_RANGE),
        "head": {"summary": summary, "responses": {**head, "default": {"description": "error"}}},
    }


def _body(name: str, media: str = "application/json") -> dict[str, Any]:
    schema = _ref(name) if media == "application/json" else {"type": "string", "format": "binary"}
    return {"required": True, "content": {media: {"schema": schema}}}


def _mpu(summary: str, request: str, answer: str) -> dict[str, Any]:
    ok = {"200": {"description": "done", **_json(answer)}}
    return {"parameters": [_PATH], "post": _op(summary, ok, requestBody=_body(request))}


PATHS: dict[str, Any] = {
    f"{_BASE}/artifacts": {
        "get": _op(
            "List a directory",
            {"200": {"description": "the entries", **_json("Listing")}},
            parameters=[{"name": "path", "in": "query", "required": False, "schema": _STR}],
        )
    },
    f"{_BASE}/artifacts/{{path}}": {
        **_file_ops("Download a file", []),
        "put": _op(
            "Upload a file",
            {"200": {"description": "stored", **_json("Empty")}},
            requestBody=_body("", "application/octet-stream"),
        ),
        "delete": _op(
            "Delete a file or directory", {"200": {"description": "gone", **_json("Empty")}}
        ),
    },
    f"{_BASE}/mpu/create/{{path}}": _mpu("Start a multipart upload", "CreateRequest", "Created"),
    f"{_BASE}/mpu/complete/{{path}}": _mpu("Complete an upload", "CompleteRequest", "Empty"),
    f"{_BASE}/mpu/abort/{{path}}": _mpu("Abort an upload", "AbortRequest", "Empty"),
    f"{_BASE}/mpu/part/{{path}}": {
        "parameters": [_PATH, *_PART_QUERY],
        "put": _op(
            "Send one part to a signed part link",
            {"200": {"description": "stored; the ETag header names it", **_json("Empty")}},
            requestBody=_body("", "application/octet-stream"),
        ),
    },
    f"{_BASE}/presigned/{{path}}": {
        "parameters": [_PATH],
        "get": _op(
            "A signed download link", {"200": {"description": "link", **_json("Presigned")}}
        ),
    },
    f"{_BASE}/signed/{{path}}": _file_ops("Download through a signed link", _SIGNED),
    "/health": {"get": _op("Liveness", {"200": {"description": "OK", **_TEXT}})},
    "/version": {"get": _op("Version", {"200": {"description": "the version", **_TEXT}})},
    "/ready": {"get": _op("Readiness", {"200": {"description": "ready", **_json("Ready")}})},
    "/api/3.0/mlflow/server-info": {
        "get": _op(
            "What the server offers", {"200": {"description": "info", **_json("ServerInfo")}}
        )
    },
    "/openapi.json": {
        "get": _op("This document", {"200": {"description": "OpenAPI 3.0", **_json("Empty")}})
    },
}

# MLflow 3 workspaces: every artifact route takes the workspace header (docs/tenancy.md).
_WORKSPACE = {"name": WORKSPACE_HEADER, "in": "header", "required": False, "schema": _STR}
for _route, _item in PATHS.items():
    if _route.startswith(_BASE):
        _item["parameters"] = [*_item.get("parameters", []), _WORKSPACE]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "mlflow-artifact-gateway",
        "version": __version__,
        "description": "MLflow's artifact REST API and the gateway's own routes; "
        "`/ajax-api/2.0/mlflow-artifacts/...` mirrors `/api/2.0/mlflow-artifacts/...`.",
    },
    "paths": PATHS,
    "components": {"schemas": SCHEMAS},
}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


def add_routes(app: web.Application) -> None:
    """Open: the document describes the API, not anyone's data."""
    add(app, ("GET", "HEAD"), "/openapi.json", openapi, Open())
