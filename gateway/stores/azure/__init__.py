"""Azure Blob Storage destinations (`wasbs://<container>@<account>.blob.core.windows.net/<prefix>`,
`abfss://…dfs…`) on azure-storage-blob's async client. The options (keys, the implicit
destination's `AZURE_STORAGE_CONNECTION_STRING` and `AZURE_STORAGE_ACCESS_KEY`) are those of
`gateway.stores.arrow.azure`, whose pyarrow store this one replaces for these schemes."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from gateway.stores.arrow.azure import AzureOptions, _connection_fields, parse_azure_uri
from gateway.stores.options import InvalidDestination
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.azure.blocks import AzureStore


def account_url(options: AzureOptions) -> tuple[str, str]:
    """(the blob service URL, the account name): `endpoint_url` (path-style, as Azurite),
    the connection string's `BlobEndpoint`, or the URI's host."""
    _, account, suffix, _ = parse_azure_uri(options.uri)
    account = options.account_name or account
    endpoint = options.endpoint_url
    if options.connection_string is not None:
        fields = _connection_fields(options.connection_string.get_secret_value())
        account = fields.get("AccountName", account)
        endpoint = endpoint or fields.get("BlobEndpoint")
    if endpoint:
        parsed = urllib.parse.urlparse(endpoint)
        named = parsed.path.strip("/")
        if named and named != account:
            raise InvalidDestination(f"endpoint_url names account {named!r}, the URI {account!r}")
        return f"{parsed.scheme}://{parsed.netloc}/{account}", account
    return f"https://{account}.blob.{suffix}", account


def credential(options: AzureOptions, account: str) -> Any:
    """What the SDK signs with: a shared key, a SAS token, or Azure's default chain."""
    key = options.account_key.get_secret_value() if options.account_key else None
    sas = options.sas_token.get_secret_value().lstrip("?") if options.sas_token else None
    if options.connection_string is not None:
        fields = _connection_fields(options.connection_string.get_secret_value())
        key = key or fields.get("AccountKey") or None
        sas = sas or fields.get("SharedAccessSignature") or None
    if key:
        return {"account_name": account, "account_key": key}
    if sas:
        return sas
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:
        raise InvalidDestination(
            f"{options.uri}: give account_key, sas_token or connection_string "
            "(Azure's default credential chain needs the azure-identity package)"
        ) from exc
    return DefaultAzureCredential()


def _create(options: AzureOptions, settings: Settings) -> AzureStore:
    from gateway.stores.azure.blocks import AzurePresigningStore, AzureStore

    container, _, _, prefix = parse_azure_uri(options.uri)
    url, account = account_url(options)

    def connect() -> Any:
        from azure.storage.blob.aio import ContainerClient

        from gateway.stores.azure.store import READ_CHUNK

        return ContainerClient(
            url,
            container,
            credential=credential(options, account),
            max_single_get_size=READ_CHUNK,
            max_chunk_get_size=READ_CHUNK,
            connection_timeout=10,
            read_timeout=60,
            retry_total=options.retries,
            retry_backoff_factor=0.4,
        )

    key = credential_key(options)
    kind = AzurePresigningStore if key else AzureStore
    return kind(
        options.uri,
        connect=connect,
        prefix=prefix,
        endpoint=url,
        account=account,
        key=key,
    )


def credential_key(options: AzureOptions) -> str | None:
    """The account key, if one is given: what an account SAS (presigning) is signed with."""
    if options.account_key is not None:
        return options.account_key.get_secret_value()
    if options.connection_string is not None:
        fields = _connection_fields(options.connection_string.get_secret_value())
        return fields.get("AccountKey") or None
    return None


STORE_TYPE = StoreType(
    schemes=("wasbs", "abfss"),
    options=AzureOptions,
    create=_create,
    environment_secrets=("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY"),
)
