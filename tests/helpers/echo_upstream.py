"""An HTTP server that stands in for a tracking server where MLflow cannot show proxy mechanics:
compressed answers, hop-by-hop headers, slow answers, answers in pieces. It reports what it got,
and `GET /_received` lists every request that reached it (`DELETE /_received` forgets them).

Run lookups answer by the id: `gw-<exp>` lies on the gateway (`mlflow-artifacts:/<exp>/...`),
`s3-<exp>` in a bucket elsewhere; any other id is refused as an authenticating server would.

`python -m tests.helpers.echo_upstream <port>`; listens on 127.0.0.1 only. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import sys
from collections import deque

from aiohttp import web
from aiohttp.typedefs import Handler

GZIP_PAYLOAD = b'{"experiments": []}' * 500
SERVER_INFO = {
    "store_type": "EchoStore",
    "multipart_uploads_enabled": "upstream value",
    "multipart_downloads_enabled": "upstream value",
    "echo_only_field": 7,
}
DRIP_FIRST, DRIP_REST = b"first-piece;", b"rest" * 1000
WAIT_LIMIT = 60.0

released = asyncio.Event()
first_chunk_seen = asyncio.Event()
received: deque[dict[str, object]] = deque(maxlen=1000)
LOCATIONS = {"gw": "mlflow-artifacts:/{exp}/{id}/artifacts", "s3": "s3://other-bucket/{exp}/{id}"}


@web.middleware
async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        if request.path != "/_received":
            received.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.rel_url.raw_query_string,
                    "authorization": "Authorization" in request.headers,
                    "body_bytes": request.content.total_bytes,
                }
            )


async def list_received(request: web.Request) -> web.Response:
    return web.json_response(list(received))


async def forget_received(request: web.Request) -> web.Response:
    received.clear()
    return web.json_response({})


async def digest_body(request: web.Request) -> dict[str, object]:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_any():
        first_chunk_seen.set()
        digest.update(chunk)
        size += len(chunk)
    return {"body_size": size, "body_sha256": digest.hexdigest()}


async def echo(request: web.Request) -> web.Response:
    request_line = {
        "method": request.method,
        "raw_path": request.rel_url.raw_path,
        "raw_query": request.rel_url.raw_query_string,
        "headers": list(request.headers.items()),
    }
    return web.json_response(request_line | await digest_body(request))


async def gzipped(request: web.Request) -> web.Response:
    """Compressed whatever the client asked: the proxy must hand the bytes on untouched."""
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return web.Response(body=gzip.compress(GZIP_PAYLOAD, mtime=0), headers=headers)


async def cookies(request: web.Request) -> web.Response:
    response = web.Response(text="cookies", headers={"X-Kept": "yes"})
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    response.headers["Connection"] = "X-Hop-Only"
    response.headers["X-Hop-Only"] = "must not pass"
    response.headers["Keep-Alive"] = "timeout=5"
    return response


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def teapot(request: web.Request) -> web.Response:
    return web.json_response({"error_code": "TEAPOT", "message": "short and stout"}, status=418)


async def drip(request: web.Request) -> web.StreamResponse:
    """Sends a first piece, then the rest only after `/release` (or WAIT_LIMIT)."""
    released.clear()
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    await response.write(DRIP_FIRST)
    await asyncio.wait_for(released.wait(), WAIT_LIMIT)
    await response.write(DRIP_REST)
    return response


async def release(request: web.Request) -> web.Response:
    released.set()
    return web.Response(text="released")


async def upload_drip(request: web.Request) -> web.Response:
    """Reads a streamed body; `/seen` tells whether its first bytes arrived."""
    first_chunk_seen.clear()
    return web.json_response(await digest_body(request))


async def seen(request: web.Request) -> web.Response:
    return web.json_response({"first_chunk_seen": first_chunk_seen.is_set()})


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(WAIT_LIMIT)
    return web.Response(text="too late")


def _location(lookup_id: str) -> str | None:
    kind, _, exp = lookup_id.partition("-")
    template = LOCATIONS.get(kind)
    return template.format(exp=exp, id=lookup_id) if template and exp.isdigit() else None


def _guarded() -> web.Response:
    """A tracking server with authentication on: lookups without credentials get its challenge."""
    return web.json_response(
        {"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="mlflow"'},
    )


async def guarded_run(request: web.Request) -> web.Response:
    location = _location(request.query.get("run_id", ""))
    if location is None:
        return _guarded()
    return web.json_response({"run": {"info": {"artifact_uri": location}}})


async def download_uri(request: web.Request) -> web.Response:
    location = _location(request.query.get("name", ""))
    return _guarded() if location is None else web.json_response({"artifact_uri": location})


async def logged_model(request: web.Request) -> web.Response:
    location = _location(request.match_info["model_id"])
    if location is None:
        return _guarded()
    return web.json_response({"model": {"info": {"artifact_uri": location}}})


async def trace_info(request: web.Request) -> web.Response:
    """A trace whose data (`traces.json`) lies in the run location of the same lookup id."""
    location = _location(request.match_info["trace_id"])
    if location is None:
        return _guarded()
    tags = {"mlflow.artifactLocation": location, "mlflow.trace.spansLocation": "ARTIFACT_REPO"}
    return web.json_response({"trace": {"trace_info": {"tags": tags}}})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


server_info_stalls = asyncio.Event()


async def server_info(request: web.Request) -> web.Response:
    """Answers at once, or only after WAIT_LIMIT while `/_stall-server-info` has been posted."""
    if server_info_stalls.is_set():
        await asyncio.sleep(WAIT_LIMIT)
    return web.json_response(SERVER_INFO)


async def stall_server_info(request: web.Request) -> web.Response:
    """POST: server-info stalls from now on; DELETE: it answers again."""
    if request.method == "POST":
        server_info_stalls.set()
    else:
        server_info_stalls.clear()
    return web.Response(text="ok")


def build() -> web.Application:
    app = web.Application(middlewares=[record])
    app.router.add_get("/_received", list_received)
    app.router.add_delete("/_received", forget_received)
    app.router.add_route("POST", "/_stall-server-info", stall_server_info)
    app.router.add_route("DELETE", "/_stall-server-info", stall_server_info)
    gets = {
        "/health": health,
        "/gzip": gzipped,
        "/cookies": cookies,
        "/redirect": redirect,
        "/teapot": teapot,
        "/drip": drip,
        "/release": release,
        "/seen": seen,
        "/slow": slow,
        "/api/3.0/mlflow/server-info": server_info,
        "/api/2.0/mlflow/runs/get": guarded_run,
        "/api/2.0/mlflow/model-versions/get-download-uri": download_uri,
        "/api/2.0/mlflow/logged-models/{model_id}": logged_model,
        "/api/3.0/mlflow/traces/{trace_id}": trace_info,
    }
    for path, handler in gets.items():
        app.router.add_get(path, handler)
    app.router.add_post("/upload-drip", upload_drip)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


if __name__ == "__main__":
    # A test server: stalled handlers must not hold up its stop (run_app waits 60 s for them).
    web.run_app(build(), host="127.0.0.1", port=int(sys.argv[1]), print=None, shutdown_timeout=0.5)
