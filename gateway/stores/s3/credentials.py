"""A destination's role: `role_arn` assumed with its own keys (or botocore's default chain), or
with a web identity token file (IRSA, `AssumeRoleWithWebIdentity`), through botocore's own
fetchers and refreshing credentials.

The provider goes first in the destination session's resolver, so every client of that session
(the main one, the one for streamed parts) shares one credentials object: one refresh per
destination, made by botocore shortly before expiry (`AioDeferredRefreshableCredentials`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioAssumeRoleWithWebIdentityCredentialFetcher,
    AioCredentials,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from botocore.utils import FileWebIdentityTokenLoader

if TYPE_CHECKING:
    from gateway.stores.s3.options import S3Options

DEFAULT_SESSION_NAME = "mlflow-artifact-gateway"


class RoleProvider(CredentialProvider):
    """A credential provider whose `load` hands out one refreshing credentials object."""

    METHOD = "gateway-role"

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    async def load(self) -> Any:
        return self._credentials


def _role_args(dest: S3Options) -> dict[str, Any]:
    args: dict[str, Any] = {"RoleSessionName": dest.role_session_name or DEFAULT_SESSION_NAME}
    if dest.external_id:
        args["ExternalId"] = dest.external_id
    if dest.duration_seconds:
        args["DurationSeconds"] = dest.duration_seconds
    return args


async def install_role(session: AioSession, dest: S3Options) -> bool:
    """Puts the destination's role first in `session`'s chain; False when it has none."""
    if not dest.role_arn:
        return False
    sts = functools.partial(
        session.create_client,
        region_name=dest.region,
        endpoint_url=dest.sts_endpoint_url,
        verify=dest.verify_tls,
    )
    fetcher: Any
    if dest.web_identity_token_file is not None:
        loader = FileWebIdentityTokenLoader(str(dest.web_identity_token_file))
        fetcher = AioAssumeRoleWithWebIdentityCredentialFetcher(
            sts, loader, dest.role_arn, extra_args=_role_args(dest)
        )
        method = "assume-role-with-web-identity"
    else:
        source = await _source(session, dest)
        fetcher = AioAssumeRoleCredentialFetcher(
            sts, source, dest.role_arn, extra_args=_role_args(dest)
        )
        method = "assume-role"
    credentials = AioDeferredRefreshableCredentials(fetcher.fetch_credentials, method)
    resolver = session.get_component("credential_provider")
    resolver.providers.insert(0, RoleProvider(credentials))
    return True


async def _source(session: AioSession, dest: S3Options) -> Any:
    """The keys that may assume the role: the destination's own, else botocore's chain."""
    if dest.access_key_id is not None and dest.secret_access_key is not None:
        token = dest.session_token.get_secret_value() if dest.session_token else None
        return AioCredentials(
            dest.access_key_id.get_secret_value(), dest.secret_access_key.get_secret_value(), token
        )
    return await session.get_credentials()
