"""The public registry of store types: URI schemes to a configuration model and a factory.

Built-in types are imported on first use, so a gateway pays only for the backends it routes
to. Adding a scheme takes its module (which defines a `StoreType`) and one line in `_BUILTIN`;
code outside the gateway calls `register`.
"""

from __future__ import annotations

import importlib
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.stores.options import DestinationOptions, InvalidDestination

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.base import ArtifactStore


@dataclass(frozen=True)
class StoreType:
    """`create(options, settings)` builds the store; it opens nothing until `start`."""

    schemes: tuple[str, ...]
    options: type[DestinationOptions]
    create: Callable[[Any, Settings], ArtifactStore]
    environment_secrets: tuple[str, ...] = field(default=())  # env vars the backend reads


# scheme -> "module:attribute" of its StoreType
_BUILTIN: Mapping[str, str] = {
    "": "gateway.stores.local:STORE_TYPE",
    "file": "gateway.stores.local:STORE_TYPE",
    "s3": "gateway.stores.s3:STORE_TYPE",
}
_registered: dict[str, StoreType] = {}
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:([\\/]|$)")


def register(store_type: StoreType) -> None:
    for scheme in store_type.schemes:
        _registered[scheme] = store_type


def unregister(store_type: StoreType) -> None:
    for scheme in store_type.schemes:
        if _registered.get(scheme) is store_type:
            del _registered[scheme]


@contextmanager
def registered(store_type: StoreType) -> Iterator[StoreType]:
    """For tests and plug-ins with a lifetime: the type is known only inside the block."""
    register(store_type)
    try:
        yield store_type
    finally:
        unregister(store_type)


def schemes() -> list[str]:
    return sorted(set(_BUILTIN) | set(_registered))


def scheme_of(uri: str) -> str:
    if _WINDOWS_PATH.match(uri):
        return ""
    return urllib.parse.urlparse(uri).scheme.lower()


def store_type_for(uri: str) -> StoreType:
    """Raises InvalidDestination with a one-line reason for unsupported URIs."""
    scheme = scheme_of(uri)
    if scheme not in _registered and scheme in _BUILTIN:
        module, _, attribute = _BUILTIN[scheme].partition(":")
        register(getattr(importlib.import_module(module), attribute))
    found = _registered.get(scheme)
    if found is None:
        supported = ", ".join(f"{s}://" for s in schemes() if s) + " or a local path"
        raise InvalidDestination(f"unsupported destination {uri!r}: use {supported}")
    return found


def parse_options(raw: Mapping[str, Any]) -> DestinationOptions:
    """The scheme's own model validates the keys: pydantic's ValidationError lists problems."""
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        return DestinationOptions.model_validate(raw)  # reports the missing or blank uri
    return store_type_for(uri.strip()).options.model_validate(raw)


def default_options(uri: str) -> DestinationOptions:
    """`--artifacts-destination`, with the environment MLflow reads for its scheme."""
    return store_type_for(uri).options.from_environment(uri)


def create_store(options: DestinationOptions, settings: Settings) -> ArtifactStore:
    return store_type_for(options.uri).create(options, settings)
