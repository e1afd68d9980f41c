"""The tracking server behind the gateway: one pooled client session, failures as 502 / 504."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import yarl
from aiohttp import web
from multidict import CIMultiDict

from gateway.config import UpstreamProxy
from gateway.errors import Busy, UpstreamError
from gateway.logs import REQUEST_ID_HEADER, current_request_id
from gateway.metrics import collectors
from gateway.stores.budget import current_share
from gateway.upstream.headers import upstream_request_headers

log = logging.getLogger(__name__)

# The client's own choices must reach the upstream unchanged, so aiohttp adds none of its own.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
_ERROR_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}


class Upstream:
    """An MLflow tracking server reached over HTTP; `start` must run inside the event loop."""

    def __init__(self, base_url: str, options: UpstreamProxy) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self._in_use: collections.Counter[str] = collections.Counter()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            # aiohttp resends an idempotent request once if a reused connection turns out closed,
            # but a burst (the UI's chunks) leaves many that go idle together, and the retry can
            # meet a second one: so they are never kept as long as the server keeps them.
            connector=aiohttp.TCPConnector(
                limit=self.options.max_connections,
                keepalive_timeout=self.options.keepalive_timeout,
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.options.connect_timeout,
                sock_read=self.options.read_timeout,
            ),
            auto_decompress=False,
            # Shared by every caller: cookies must pass through, never be remembered.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_NO_AUTO_HEADERS,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One of the calling share's `max_connections_per_user` upstream connections, held
        around a whole exchange: past the limit, 429 at once (a user whose requests drip their
        bodies must not take the pool every other user's passthrough needs)."""
        share = current_share()
        key = share.key if share is not None else ""
        if key and self._in_use[key] >= self.options.max_connections_per_user:
            collectors().upstream_errors.labels("busy").inc()
            raise Busy(
                "Too many requests to the tracking server from one user at once "
                f"(at most {self.options.max_connections_per_user})"
            )
        self._in_use[key] += 1
        try:
            yield
        finally:
            self._in_use[key] -= 1
            if not self._in_use[key]:
                del self._in_use[key]

    def url(self, raw_path: str, raw_query: str = "") -> yarl.URL:
        """The upstream URL for a still-encoded path and query, under the base URL's path."""
        query = f"?{raw_query}" if raw_query else ""
        return yarl.URL(f"{self.base_url}{raw_path}{query}", encoded=True)

    def headers_for(self, request: web.Request) -> CIMultiDict[str]:
        """The caller's end-to-end headers, `Authorization` included unless configured off."""
        headers = upstream_request_headers(
            request, authorization=self.options.forward_authorization
        )
        return _with_request_id(headers)

    async def open(
        self,
        method: str,
        url: yarl.URL,
        headers: CIMultiDict[str],
        data: Any = None,
    ) -> aiohttp.ClientResponse:
        """Sends a request and returns once the status and headers are in; release the answer."""
        assert self._session is not None, "Upstream.start() was not awaited"
        # A failure of the caller's own body (a stalled upload) is not the tracking server's.
        started = time.perf_counter()
        try:
            with self._failures(passing=(aiohttp.ClientPayloadError,)):
                return await self._session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                )
        finally:
            collectors().upstream_duration.observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def _failures(self, passing: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Client errors and timeouts become 502 / 504; those in `passing` stay as they are."""
        try:
            yield
        except passing:
            raise
        except asyncio.TimeoutError as exc:
            raise self._too_slow() from exc
        except aiohttp.ClientError as exc:
            raise self._unavailable(exc) from exc

    # Callers hear "the tracking server"; its address, and what went wrong there, go to the log.
    def _unavailable(self, exc: BaseException) -> UpstreamError:
        collectors().upstream_errors.labels("unavailable").inc()
        log.warning("tracking server %s is unavailable: %s", self.base_url, str(exc) or repr(exc))
        return UpstreamError("The tracking server is unavailable")

    def _too_slow(self) -> UpstreamError:
        collectors().upstream_errors.labels("timeout").inc()
        timeouts = f"connect {self.options.connect_timeout} s, read {self.options.read_timeout} s"
        log.warning("tracking server %s did not answer in time (%s)", self.base_url, timeouts)
        return UpstreamError("The tracking server did not answer in time", 504, "DEADLINE_EXCEEDED")

    async def get_plain(self, path: str, limit: int) -> tuple[int, str, bytes]:
        """A GET with none of the caller's headers (no credentials, no cookies): status,
        content type and at most `limit` bytes of the body."""
        headers = _with_request_id(CIMultiDict({"Accept-Encoding": "identity"}))
        async with await self.open("GET", self.url(path), headers) as response:
            with self._failures():
                body = await response.content.read(limit)
        content_type = response.headers.get("Content-Type", "text/plain; charset=utf-8")
        return response.status, content_type, body

    async def get_json(
        self, request: web.Request, path: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """A metadata lookup made as the caller, so the upstream's own permissions apply."""
        headers = self.headers_for(request)
        for name in ("Content-Length", "Content-Type"):
            headers.popall(name, None)
        headers["Accept"] = "application/json"
        headers["Accept-Encoding"] = "identity"
        url = self.url(path).with_query(params)
        with self.slot():
            return await self._get_json(url, headers, path)

    async def _get_json(
        self, url: yarl.URL, headers: CIMultiDict[str], path: str
    ) -> dict[str, Any]:
        async with await self.open("GET", url, headers) as response:
            try:
                body = await response.json(content_type=None)
            except asyncio.TimeoutError as exc:
                raise self._too_slow() from exc
            except (ValueError, aiohttp.ClientError):
                body = None
        if response.status == 200 and isinstance(body, dict):
            return body
        if not 400 <= response.status < 500:
            log.warning("tracking server %s%s answered %s", self.base_url, path, response.status)
        refusal = _refusal(response.status, body, path)
        # A 401 must keep its challenge, or MLflow clients and browsers never send credentials.
        refusal.headers = tuple(
            ("WWW-Authenticate", value) for value in response.headers.getall("WWW-Authenticate", ())
        )
        raise refusal

    async def check(self) -> str | None:
        """None when `/health` answers 200, else why not; used by the readiness route."""
        assert self._session is not None
        try:
            async with self._session.get(
                self.url("/health"), timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                return None if response.status == 200 else f"/health answered {response.status}"
        except asyncio.TimeoutError:
            return "no answer within 5 s"
        except aiohttp.ClientError as exc:
            return str(exc) or type(exc).__name__


def _with_request_id(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """The tracking server logs the same ID as the gateway (the client's, or a new one)."""
    if (request_id := current_request_id()) is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def _refusal(status: int, body: Any, where: str) -> UpstreamError:
    if not 400 <= status < 500:
        return UpstreamError(f"The tracking server gave no usable answer ({status}) for {where}")
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("error_code") or _ERROR_CODES.get(status, "BAD_REQUEST")
        return UpstreamError(body["message"], status, str(code))
    return UpstreamError(f"{where}: {status}", status, _ERROR_CODES.get(status, "BAD_REQUEST"))


UPSTREAM = web.AppKey("upstream", Upstream)


def install(app: web.Application, upstream: Upstream) -> None:
    """Registers the upstream and opens its session for the application's lifetime."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        yield
        await upstream.close()

    app[UPSTREAM] = upstream
    app.cleanup_ctx.append(lifecycle)
