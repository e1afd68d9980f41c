"""An HTTP server that stands in for a tracking server where MLflow cannot show proxy mechanics:
compressed answers, hop-by-hop headers, slow answers, answers in pieces. It reports what it got.

`python -m tests.echo_upstream <port>`; listens on 127.0.0.1 only. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import sys

from aiohttp import web

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


async def guarded_run(request: web.Request) -> web.Response:
    """A tracking server with authentication on: lookups without credentials get its challenge."""
    return web.json_response(
        {"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="mlflow"'},
    )


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def server_info(request: web.Request) -> web.Response:
    return web.json_response(SERVER_INFO)


def build() -> web.Application:
    app = web.Application()
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
    }
    for path, handler in gets.items():
        app.router.add_get(path, handler)
    app.router.add_post("/upload-drip", upload_drip)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


if __name__ == "__main__":
    web.run_app(build(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
