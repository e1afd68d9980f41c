"""Stores chosen by URI scheme from a registry, as MLflow chooses artifact repositories."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from gateway.config import DestinationConfig, Settings
from gateway.stores.base import ArtifactStore, InvalidDestination
from gateway.stores.local import LocalStore
from gateway.stores.s3 import S3Store

StoreFactory = Callable[[DestinationConfig, Settings], ArtifactStore]

_REGISTRY: dict[str, StoreFactory] = {
    "": lambda dest, settings: LocalStore(dest.uri, settings.chunk_size),
    "file": lambda dest, settings: LocalStore(dest.uri, settings.chunk_size),
    "s3": lambda dest, settings: S3Store(dest, settings.s3, settings.chunk_size),
}
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:([\\/]|$)")


def scheme_of(uri: str) -> str:
    if _WINDOWS_PATH.match(uri):
        return ""
    return urllib.parse.urlparse(uri).scheme.lower()


def create_store(dest: DestinationConfig, settings: Settings) -> ArtifactStore:
    """Raises InvalidDestination with a one-line reason for unsupported or malformed URIs."""
    scheme = scheme_of(dest.uri)
    factory = _REGISTRY.get(scheme)
    if factory is None:
        supported = ", ".join(f"{s}://" for s in sorted(_REGISTRY) if s) + " or a local path"
        raise InvalidDestination(f"unsupported destination {dest.uri!r}: use {supported}")
    return factory(dest, settings)


__all__ = ["ArtifactStore", "InvalidDestination", "create_store", "scheme_of"]
