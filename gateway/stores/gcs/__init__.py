"""Google Cloud Storage destinations (`gs://bucket/prefix`) on the JSON API over aiohttp, with
google-auth for tokens and our own V4 signing (docs/backends.md says why not an SDK). The keys
are those of `gateway.stores.arrow.gcs`, whose pyarrow store this one replaces for `gs://`,
plus `signing_credentials_file` and `timeout`.

The implicit destination reads what MLflow's `GCSArtifactRepository` reads:
`GOOGLE_APPLICATION_CREDENTIALS` (through google-auth's default chain, and as the signing key
when it is a service-account key), `MLFLOW_GCS_DEFAULT_TIMEOUT`, and google-cloud-storage's
`STORAGE_EMULATOR_HOST` (an emulator: anonymous, that endpoint).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from gateway.stores.arrow.gcs import GcsOptions, parse_gs_uri
from gateway.stores.options import InvalidDestination
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.gcs.compose import GcsStore

GCS_API = "https://storage.googleapis.com"


class GcsNativeOptions(GcsOptions):
    # A service-account JSON whose key signs V4 URLs (presigning); default: credentials_file
    # when it is a service-account key. With `anonymous` (emulators), it only signs.
    signing_credentials_file: Path | None = None
    timeout: float = Field(60.0, gt=0, le=3600)  # seconds a read from GCS may stall

    @model_validator(mode="after")
    def _readable_key(self) -> GcsNativeOptions:
        path = self.signing_credentials_file
        if path is not None and not os.access(path, os.R_OK):
            raise ValueError(f"cannot read signing_credentials_file '{path}'")
        return self

    @classmethod
    def from_environment(cls, uri: str) -> GcsNativeOptions:
        fields: dict[str, object] = {"uri": uri}
        if emulator := os.environ.get("STORAGE_EMULATOR_HOST"):
            fields.update(anonymous=True, endpoint_url=emulator)
        elif _is_service_account(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")):
            fields["credentials_file"] = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
        if timeout := os.environ.get("MLFLOW_GCS_DEFAULT_TIMEOUT"):
            fields["timeout"] = float(timeout)
        return cls.model_validate(fields)


def _is_service_account(path: str | None) -> bool:
    if not path:
        return False
    try:
        return json.loads(Path(path).read_text()).get("type") == "service_account"
    except (OSError, ValueError, AttributeError):
        return False


def _create(options: GcsNativeOptions, settings: Settings) -> GcsStore:
    from gateway.stores.gcs.auth import SigningKey, Tokens
    from gateway.stores.gcs.compose import GcsPresigningStore, GcsStore

    bucket, prefix = parse_gs_uri(options.uri)
    endpoint = (options.endpoint_url or GCS_API).rstrip("/")
    common = {
        "bucket": bucket,
        "prefix": prefix,
        "endpoint": endpoint,
        "tokens": Tokens(options.credentials_file, options.anonymous),
        "timeout": options.timeout,
    }
    key_file = options.signing_credentials_file
    if key_file is None and _is_service_account(str(options.credentials_file or "")):
        key_file = options.credentials_file
    if key_file is None:
        return GcsStore(options.uri, **common)
    try:
        key = SigningKey.from_file(key_file)
    except (OSError, ValueError) as exc:
        raise InvalidDestination(f"{options.uri}: signing key {key_file}: {exc}") from exc
    return GcsPresigningStore(options.uri, signing_key=key, signed_base=endpoint, **common)


STORE_TYPE = StoreType(schemes=("gs",), options=GcsNativeOptions, create=_create)
