"""SFTP destinations (`sftp://user@host[:port]/path`, MLflow's SFTPArtifactRepository) on
asyncssh, imported when the first such destination starts.

Host keys are checked by default, against `known_hosts_file` or the gateway user's
`~/.ssh/known_hosts` (as OpenSSH and asyncssh do); `check_host_key: false` turns that off and
logs a warning at start-up. The gateway logs in with `private_key_file`, `password(_file)`,
or what asyncssh finds by default (`~/.ssh/id_*`, an agent).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from gateway.stores.options import InvalidDestination
from gateway.stores.registry import StoreType
from gateway.stores.tree.options import TreeOptions

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.tree.store import TreeStore

log = logging.getLogger(__name__)


class SftpOptions(TreeOptions):
    private_key_file: Path | None = None
    private_key_passphrase: SecretStr | None = None
    known_hosts_file: Path | None = Field(None, description="default: ~/.ssh/known_hosts")
    check_host_key: bool = Field(
        True, description="false accepts any host key (a man in the middle too): tests only"
    )


def connection_arguments(options: SftpOptions) -> dict[str, Any]:
    """asyncssh.connect's keywords: only what is configured, so asyncssh's defaults (default
    keys, agent, `~/.ssh/known_hosts`) apply to the rest."""
    arguments: dict[str, Any] = {"username": options.user()}
    if not options.check_host_key:
        arguments["known_hosts"] = None
    elif options.known_hosts_file is not None:
        arguments["known_hosts"] = str(options.known_hosts_file)
    if options.private_key_file is not None:
        arguments["client_keys"] = [str(options.private_key_file)]
    if options.private_key_passphrase is not None:
        arguments["passphrase"] = options.private_key_passphrase.get_secret_value()
    if (password := options.password_value()) is not None:
        arguments["password"] = password
    return arguments


def _create(options: SftpOptions, settings: Settings) -> TreeStore:
    from gateway.stores.tree.store import tree_store

    host, port, path = options.host_port_path(22)
    if options.user() is None:
        raise InvalidDestination(f"{options.uri}: give the user in the URI or as username")
    if not options.check_host_key:
        log.warning(
            "destination %s: check_host_key is false, so any server answering at %s:%d is "
            "trusted with the artifacts and the login",
            options.uri,
            host,
            port,
        )
    arguments = connection_arguments(options)

    async def connect() -> Any:
        from gateway.stores.sftp import session  # asyncssh, once the store starts

        return await session.connect(
            host, port, arguments, options.connect_timeout, options.timeout
        )

    return tree_store(options, settings, "gateway.stores.sftp.session", connect, (host, port, path))


STORE_TYPE = StoreType(schemes=("sftp",), options=SftpOptions, create=_create)
