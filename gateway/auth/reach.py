"""`check-config`: the auth app and the OIDC issuer, each reached once, as one line each.

The auth app: `GET users/current` (mlflow/server/auth/routes.py GET_CURRENT_USER) with the
service account when one is configured (200: it exists and its password is right), else
without credentials (401 with `WWW-Authenticate: Basic` is the auth app answering; 200 means
the server runs without it and would let anyone through). The issuer: discovery and its key set.
"""

from __future__ import annotations

import aiohttp
import yarl

from gateway.auth.config import AuthConfig
from gateway.auth.decisions import Unavailable
from gateway.auth.oidc import KeySet
from gateway.auth.tracking_auth import CURRENT_USER


async def reach(config: AuthConfig, tracking_uri: str | None) -> list[tuple[bool, str]]:
    """(ok, line) per configured remote source."""
    found = []
    if config.provider == "mlflow":
        found.append(await _auth_app(config, config.mlflow.url or tracking_uri))
    if config.oidc is not None:
        keys = KeySet(config.oidc)
        await keys.start()
        try:
            await keys.key(None)
            found.append((True, f"oidc issuer {config.oidc.issuer}: {len(keys)} key(s)"))
        except Unavailable as exc:
            found.append((False, f"oidc issuer {config.oidc.issuer}: {exc.message}"))
        finally:
            await keys.close()
    return found


async def _auth_app(config: AuthConfig, url: str | None) -> tuple[bool, str]:
    if not url:
        return False, "auth app: no auth.mlflow.url and no --tracking-uri"
    account = config.mlflow.service_account
    headers = {"Authorization": account.authorization()} if account else {}
    timeout = aiohttp.ClientTimeout(total=config.mlflow.timeout_seconds)
    target = yarl.URL(url.rstrip("/") + "/") / CURRENT_USER
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(target, headers=headers) as response,
        ):
            status, challenge = response.status, response.headers.get("WWW-Authenticate", "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"auth app {url}: unreachable ({type(exc).__name__})"
    if account is not None:
        if status == 200:
            return True, f"auth app {url}: service account {account.username!r} signed in"
        return False, f"auth app {url}: service account {account.username!r} refused ({status})"
    if status == 401 and challenge.lower().startswith("basic"):
        return True, f"auth app {url}: answers (no service account to sign in with)"
    return False, f"auth app {url}: no basic-auth app there (users/current answered {status})"
