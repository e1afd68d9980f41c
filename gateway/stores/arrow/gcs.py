"""Google Cloud Storage destinations (`gs://bucket/prefix`) over `pyarrow.fs.GcsFileSystem`.

pyarrow takes no service-account JSON as an argument: Google's client reads it from
`GOOGLE_APPLICATION_CREDENTIALS` when the filesystem is built. The gateway sets that variable
only around the constructor, under a lock, so each destination gets its own file.
"""

from __future__ import annotations

import datetime
import os
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import field_validator, model_validator

from gateway.stores.options import DestinationOptions, InvalidDestination, http_endpoint
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.arrow.store import ArrowStore

_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
_environment = threading.Lock()


class GcsOptions(DestinationOptions):
    project: str | None = None
    credentials_file: Path | None = None  # a service-account JSON; absent: the default chain
    anonymous: bool = False  # public buckets and emulators: no credential lookup at all
    endpoint_url: str | None = None  # emulators and private endpoints: http(s)://host:port
    retry_time_limit: float = 15.0  # seconds Google's client retries transient failures

    _endpoint = field_validator("endpoint_url")(http_endpoint)

    @model_validator(mode="after")
    def _one_identity(self) -> GcsOptions:
        if self.anonymous and self.credentials_file is not None:
            raise ValueError("give credentials_file or anonymous: true, not both")
        if self.credentials_file is not None and not os.access(self.credentials_file, os.R_OK):
            raise ValueError(f"cannot read credentials_file '{self.credentials_file}'")
        return self


def parse_gs_uri(uri: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(uri)
    if not parsed.netloc:
        raise InvalidDestination(f"{uri!r} names no bucket (expected gs://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


def filesystem_arguments(options: GcsOptions) -> dict[str, Any]:
    """`GcsFileSystem`'s keyword arguments for this destination."""
    kwargs: dict[str, Any] = {
        "anonymous": options.anonymous,
        "retry_time_limit": datetime.timedelta(seconds=options.retry_time_limit),
    }
    if options.project:
        kwargs["project_id"] = options.project
    if options.endpoint_url:
        parsed = urllib.parse.urlparse(options.endpoint_url)
        kwargs["scheme"] = parsed.scheme
        kwargs["endpoint_override"] = parsed.netloc
    return kwargs


def _connect(options: GcsOptions) -> Any:
    from pyarrow import fs

    kwargs = filesystem_arguments(options)
    if options.credentials_file is None:
        return fs.GcsFileSystem(**kwargs)
    with _environment:
        before = os.environ.get(_CREDENTIALS_ENV)
        os.environ[_CREDENTIALS_ENV] = str(options.credentials_file)
        try:
            return fs.GcsFileSystem(**kwargs)
        finally:
            if before is None:
                del os.environ[_CREDENTIALS_ENV]
            else:
                os.environ[_CREDENTIALS_ENV] = before


def _create(options: GcsOptions, settings: Settings) -> ArrowStore:
    from gateway.stores.arrow.store import ArrowStore, Traits

    bucket, prefix = parse_gs_uri(options.uri)
    return ArrowStore(
        options.uri,
        connect=lambda: _connect(options),
        base=f"{bucket}/{prefix}" if prefix else bucket,
        root=bucket,
        chunk_size=settings.chunk_size,
        traits=Traits(recursive_listing=True, root_kind="bucket"),
        endpoint=options.endpoint_url,
    )


STORE_TYPE = StoreType(schemes=("gs",), options=GcsOptions, create=_create)
