"""Destinations behind one abstract store: one subpackage per scheme, chosen by the registry."""

from gateway.stores.base import ArtifactStore, ByteSource, Download, Entry, FileStat
from gateway.stores.options import DestinationOptions, InvalidDestination
from gateway.stores.readiness import probe
from gateway.stores.registry import (
    ENTRY_POINT_GROUP,
    SchemeTaken,
    StoreType,
    create_store,
    default_options,
    parse_options,
    register,
    registered,
    scheme_of,
    store_types,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArtifactStore",
    "ByteSource",
    "DestinationOptions",
    "Download",
    "Entry",
    "FileStat",
    "InvalidDestination",
    "SchemeTaken",
    "StoreType",
    "create_store",
    "default_options",
    "parse_options",
    "probe",
    "register",
    "registered",
    "scheme_of",
    "store_types",
]
