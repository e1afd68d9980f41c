"""Local filesystem and NFS destinations: plain paths, `file:` URIs and Windows paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.local.files import LocalFiles, local_root
from gateway.stores.local.store import LocalStore
from gateway.stores.options import DestinationOptions
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings


class LocalOptions(DestinationOptions):
    """A local destination has nothing to configure but its path."""


def _create(options: LocalOptions, settings: Settings) -> LocalStore:
    return LocalStore(options.uri, settings.chunk_size)


STORE_TYPE = StoreType(schemes=("", "file"), options=LocalOptions, create=_create)

__all__ = ["STORE_TYPE", "LocalFiles", "LocalOptions", "LocalStore", "local_root"]
