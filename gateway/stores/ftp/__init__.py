"""FTP destinations (`ftp://user@host[:port]/path`, MLflow's FTPArtifactRepository) on aioftp,
and `ftps://`: the same with explicit TLS (RFC 4217 `AUTH TLS` on the ordinary port, not
implicit TLS on 990). `tls: true` on an `ftp://` destination is the same thing.

Plain FTP sends the password and every byte in clear: the gateway logs a warning at start-up
for a plain FTP destination with a password. With TLS the server's certificate is checked
against the system's CAs or `ca_file`.
"""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from gateway.stores.options import InvalidDestination
from gateway.stores.registry import StoreType
from gateway.stores.tree.options import TreeOptions

if TYPE_CHECKING:
    import ssl

    from gateway.config import Settings
    from gateway.stores.tree.store import TreeStore

log = logging.getLogger(__name__)


class FtpOptions(TreeOptions):
    tls: bool | None = Field(None, description="explicit TLS (AUTH TLS); ftps:// implies it")
    ca_file: Path | None = Field(None, description="CA bundle for the server's certificate")
    check_certificate: bool = Field(True, description="false accepts any certificate")

    def uses_tls(self) -> bool:
        scheme = urllib.parse.urlsplit(self.uri).scheme.lower()
        return self.tls if self.tls is not None else scheme == "ftps"


def tls_context(options: FtpOptions) -> ssl.SSLContext | None:
    if not options.uses_tls():
        return None
    import ssl

    cafile = str(options.ca_file) if options.ca_file is not None else None
    context = ssl.create_default_context(cafile=cafile)
    if not options.check_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _create(options: FtpOptions, settings: Settings) -> TreeStore:
    from gateway.stores.tree.store import tree_store

    if urllib.parse.urlsplit(options.uri).scheme.lower() == "ftps" and options.tls is False:
        raise InvalidDestination(f"{options.uri}: ftps:// always uses TLS; drop tls: false")
    host, port, path = options.host_port_path(21)
    password = options.password_value() or ""
    if password and not options.uses_tls():
        log.warning(
            "destination %s is plain FTP: its password and every artifact cross the network "
            "in clear; use ftps:// (explicit TLS) where the server offers it",
            options.uri,
        )
    if options.uses_tls() and not options.check_certificate:
        log.warning(
            "destination %s: check_certificate is false, any server is trusted", options.uri
        )
    context = tls_context(options)
    login = (options.user() or "anonymous", password or "anon@")
    timeouts = (options.connect_timeout, options.timeout)

    async def connect() -> Any:
        from gateway.stores.ftp import session  # aioftp, once the store starts

        return await session.connect(host, port, login, context, timeouts)

    return tree_store(options, settings, "gateway.stores.ftp.session", connect, (host, port, path))


STORE_TYPE = StoreType(schemes=("ftp", "ftps"), options=FtpOptions, create=_create)
