"""Azure Blob Storage destinations over `pyarrow.fs.AzureFileSystem`, in the URI forms MLflow
users write: `wasbs://<container>@<account>.blob.core.windows.net/<prefix>` and
`abfss://<container>@<account>.dfs.core.windows.net/<prefix>`.

Credentials: an account key, a SAS token or a connection string (whose `AccountKey` or
`SharedAccessSignature` and `BlobEndpoint` are used); none of them: Azure's default credential
chain. The implicit destination reads `AZURE_STORAGE_CONNECTION_STRING` and
`AZURE_STORAGE_ACCESS_KEY`, as MLflow does.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.stores.options import DestinationOptions, InvalidDestination, http_endpoint
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.arrow.store import ArrowStore

_HOST = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.(?P<suffix>.+)$")
FLUSH_EVERY = 16 * 1024 * 1024  # Azure's stream holds staged blocks until a flush (FINDINGS)


class AzureOptions(DestinationOptions):
    account_name: str | None = None  # default: from the URI's host
    account_key: SecretStr | None = None
    account_key_file: Path | None = None
    sas_token: SecretStr | None = None
    sas_token_file: Path | None = None
    connection_string: SecretStr | None = None
    connection_string_file: Path | None = None
    endpoint_url: str | None = None  # Azurite, private endpoints: http(s)://host:port[/account]
    retries: int = Field(2, ge=0, le=10)  # the aio store's retries of a failed request

    _endpoint = field_validator("endpoint_url")(http_endpoint)

    @model_validator(mode="after")
    def _one_credential(self) -> AzureOptions:
        given = [n for n in ("account_key", "sas_token", "connection_string") if self.given(n)]
        if len(given) > 1:
            raise ValueError(f"give one of account_key, sas_token, connection_string, not {given}")
        return self

    def secrets(self) -> list[str]:
        """A connection string's key and SAS token are masked on their own as well."""
        found = super().secrets()
        if self.connection_string is not None:
            fields = _connection_fields(self.connection_string.get_secret_value())
            found += [v for k in ("AccountKey", "SharedAccessSignature") if (v := fields.get(k))]
        return found

    @classmethod
    def from_environment(cls, uri: str) -> AzureOptions:
        connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        key = os.environ.get("AZURE_STORAGE_ACCESS_KEY")
        if connection:
            return cls(uri=uri, connection_string=SecretStr(connection))
        return cls(uri=uri, account_key=SecretStr(key) if key else None)


def parse_azure_uri(uri: str) -> tuple[str, str, str, str]:
    """(container, account, endpoint suffix, prefix); MLflow's forms only."""
    parsed = urllib.parse.urlparse(uri)
    container, at, host = parsed.netloc.partition("@")
    match = _HOST.match(host.lower())
    if not at or not container or match is None:
        raise InvalidDestination(
            f"{uri!r} is not wasbs://<container>@<account>.blob.core.windows.net/<prefix> "
            "or abfss://<container>@<account>.dfs.core.windows.net/<prefix>"
        )
    return container, match["account"], match["suffix"], parsed.path.strip("/")


def _connection_fields(value: str) -> dict[str, str]:
    fields = {}
    for part in value.split(";"):
        name, _, field = part.partition("=")
        if name.strip():
            fields[name.strip()] = field.strip()
    return fields


def filesystem_arguments(options: AzureOptions) -> dict[str, Any]:
    """`AzureFileSystem`'s keyword arguments for this destination (secrets revealed)."""
    _, account, suffix, _ = parse_azure_uri(options.uri)
    kwargs: dict[str, Any] = {"account_name": options.account_name or account}
    endpoint = options.endpoint_url
    if options.connection_string is not None:
        fields = _connection_fields(options.connection_string.get_secret_value())
        kwargs["account_name"] = fields.get("AccountName", kwargs["account_name"])
        if fields.get("AccountKey"):
            kwargs["account_key"] = fields["AccountKey"]
        if fields.get("SharedAccessSignature"):
            kwargs["sas_token"] = fields["SharedAccessSignature"]
        endpoint = endpoint or fields.get("BlobEndpoint")
    if options.account_key is not None:
        kwargs["account_key"] = options.account_key.get_secret_value()
    if options.sas_token is not None:
        kwargs["sas_token"] = options.sas_token.get_secret_value().lstrip("?")
    if endpoint:
        parsed = urllib.parse.urlparse(endpoint)
        for service in ("blob", "dfs"):  # Azurite serves both on one port
            kwargs[f"{service}_storage_authority"] = parsed.netloc
            kwargs[f"{service}_storage_scheme"] = parsed.scheme
    elif suffix != "core.windows.net":  # sovereign clouds
        kwargs["blob_storage_authority"] = f"blob.{suffix}"
        kwargs["dfs_storage_authority"] = f"dfs.{suffix}"
    return kwargs


def _connect(options: AzureOptions) -> Any:
    from pyarrow import fs

    return fs.AzureFileSystem(**filesystem_arguments(options))


def _create(options: AzureOptions, settings: Settings) -> ArrowStore:
    from gateway.stores.arrow.store import RangedArrowStore, Traits

    container, account, _, prefix = parse_azure_uri(options.uri)
    if options.endpoint_url:  # path-style: the account is the first segment, if named
        named = urllib.parse.urlparse(options.endpoint_url).path.strip("/")
        if named and named != (options.account_name or account):
            raise InvalidDestination(
                f"endpoint_url names account {named!r}, the URI {options.account_name or account!r}"
            )
    return RangedArrowStore(
        options.uri,
        connect=lambda: _connect(options),
        base=f"{container}/{prefix}" if prefix else container,
        root=container,
        chunk_size=settings.chunk_size,
        traits=Traits(flush_every=FLUSH_EVERY, etag_metadata=b"ETag", root_kind="container"),
        endpoint=options.endpoint_url or f"https://{account}.blob.core.windows.net",
    )


STORE_TYPE = StoreType(
    schemes=("wasbs", "abfss"),
    options=AzureOptions,
    create=_create,
    environment_secrets=("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY"),
)
