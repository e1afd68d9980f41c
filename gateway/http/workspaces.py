"""Which MLflow workspace a request acts in, resolved once as MLflow's server does.

MLflow resolves `X-MLFLOW-WORKSPACE` before any handler (`resolve_workspace_for_request_if_enabled`
in mlflow/server/workspace_helpers.py): a header with workspaces off is refused, a missing one
means the provider's default workspace (the SQL provider's `default`), and a name is validated.
Whether workspaces are on is a setting in deployment B and the tracking server's
`/server-info` (`workspaces_enabled`) in A, read through the same cache `/server-info` uses.
While the tracking server cannot say, a request without the header is served by the default
workspace's rule, which is the stricter of the two modes (only `workspaces/<other>/...` paths
differ, and those it refuses), so artifact routes keep working through an outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.config import WorkspacesConfig
from gateway.errors import ApiError, InvalidParameter, UpstreamError
from gateway.tenancy import DEFAULT_WORKSPACE, HEADER, validate_workspace
from gateway.upstream.client import UPSTREAM

log = logging.getLogger(__name__)

SERVER_INFO = "/api/3.0/mlflow/server-info"
LOOKUP_TIMEOUT = 5.0  # the shared lookup: a busy tracking server still answers in time
PROBE_WAIT = 1.0  # what `/server-info` waits: inside the 3.18 client's 3 s probe timeout
CACHE_SECONDS = 30.0  # the same for every caller (MLflow serves it without login)


class WorkspacesDisabled(ApiError):
    """MLflow answers this with FEATURE_DISABLED and a 500; a client's header is not a server
    fault, so the gateway keeps the code and message and answers 400."""

    error_code = "FEATURE_DISABLED"


@dataclass
class _Cached:
    payload: dict[str, Any] | None = None
    expires: float = 0.0
    failed: float = -CACHE_SECONDS  # when a lookup last failed (monotonic)
    lookup: asyncio.Future[dict[str, Any] | None] | None = None  # the one in flight


WORKSPACES = web.AppKey("workspaces", WorkspacesConfig)
_CACHE = web.AppKey("server_info_cache", _Cached)
_RESOLVED = web.RequestKey("workspace", object)  # str, or None when workspaces are off


def install(app: web.Application, config: WorkspacesConfig) -> None:
    app[WORKSPACES] = config
    app[_CACHE] = _Cached()


async def tracking_server_info(
    request: web.Request, wait: float = LOOKUP_TIMEOUT
) -> dict[str, Any] | None:
    """The tracking server's `/server-info`, cached; None when it fails, or when it has not
    answered within `wait` (then the last answer, if any; the lookup goes on for the next).

    One lookup at a time, shared by every caller waiting for it (owned by no request, so none
    can cancel it): the answer is the same for everyone, so a crowd of first requests costs
    the tracking server one call, not one each.
    """
    cached = request.app[_CACHE]
    if cached.payload is not None and time.monotonic() < cached.expires:
        return cached.payload
    if cached.lookup is None:
        cached.lookup = asyncio.ensure_future(_look_up(request, cached))
        cached.lookup.add_done_callback(lambda _: setattr(cached, "lookup", None))
    try:
        return await asyncio.wait_for(asyncio.shield(cached.lookup), wait)
    except TimeoutError:
        return cached.payload


async def _look_up(request: web.Request, cached: _Cached) -> dict[str, Any] | None:
    try:
        lookup = request.app[UPSTREAM].get_json(request, SERVER_INFO, {})
        payload = await asyncio.wait_for(lookup, LOOKUP_TIMEOUT)
    except (ApiError, TimeoutError) as exc:
        why = exc.message if isinstance(exc, ApiError) else f"no answer in {LOOKUP_TIMEOUT} s"
        log.warning("server-info from the tracking server failed: %s", why)
        cached.failed = time.monotonic()
        return cached.payload  # a stale answer describes the tracking server better than none
    cached.payload, cached.expires = payload, time.monotonic() + CACHE_SECONDS
    return payload


async def workspaces_enabled(request: web.Request) -> bool | None:
    """The setting, else the tracking server's word; None when it cannot say. After a failed
    lookup artifact routes do not ask again for `CACHE_SECONDS` (each wait costs a request
    `LOOKUP_TIMEOUT`); `/server-info` itself still does."""
    config = request.app.get(WORKSPACES) or WorkspacesConfig()
    if config.enabled is not None:
        return config.enabled
    if request.app.get(UPSTREAM) is None:
        return False
    cached = request.app[_CACHE]
    if time.monotonic() - cached.failed < CACHE_SECONDS:
        payload = cached.payload  # the last answer, if any: no new wait so soon after a failure
    else:
        payload = await tracking_server_info(request)  # fresh from the cache, or one lookup
    return None if payload is None else bool(payload.get("workspaces_enabled"))


async def resolve(request: web.Request) -> str | None:
    """The request's workspace (None: workspaces off); 400 on a header MLflow would refuse."""
    if _RESOLVED in request:
        return request[_RESOLVED]
    header = (request.headers.get(HEADER) or "").strip()
    enabled = await workspaces_enabled(request)
    if enabled is None and header:
        raise UpstreamError(  # a guess would store the workspace's files in the wrong layout
            "Cannot tell whether the tracking server has workspaces enabled: its /server-info "
            "does not answer; set workspaces.enabled to serve workspaces without it",
            503,
        )
    if enabled is False:
        if header:
            raise WorkspacesDisabled(
                "Workspace APIs are not available: workspaces are not enabled on this server"
            )
        workspace = None
    elif header:
        workspace = validate_workspace(header)
    elif (request.app.get(WORKSPACES) or WorkspacesConfig()).require_header:
        raise InvalidParameter(  # _get_workspace_scoped_repo_path_if_enabled's words
            "Active workspace is required for artifact operations. "
            "Ensure X-MLFLOW-WORKSPACE is set or call mlflow.set_workspace()."
        )
    else:
        workspace = DEFAULT_WORKSPACE
    request[_RESOLVED] = workspace
    return workspace


def resolved(request: web.Request) -> str | None:
    """After `resolve` (the guard's rules call it): the request's workspace."""
    return request.get(_RESOLVED)
