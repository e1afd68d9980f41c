"""The public registry of store types: URI schemes to a configuration model and a factory.

A scheme's module is imported on first use, built-in or plug-in, so a gateway pays only for
the backends it routes to. Built-in schemes are in `_BUILTIN`; plug-ins are found through
entry points, as MLflow finds artifact repositories (`mlflow.artifact_repository`) and fsspec
filesystems (`fsspec.specs`).

The plug-in contract:

- A plug-in module defines a `StoreType`: its `schemes`; `options`, a `DestinationOptions`
  subclass whose fields are the keys a destination of that scheme accepts (its `SecretStr`
  fields are redacted from every log line and answer, `*_file` fields are read at start-up);
  `create(options, settings)`, which returns an `ArtifactStore` and opens nothing until
  `start`; and `environment_secrets`, the environment variables the backend reads secrets
  from, which are redacted as well.
- Its distribution declares one entry point per scheme in the group
  `mlflow_artifact_gateway.stores`, named after the scheme, e.g. in its `pyproject.toml`:
  `[project.entry-points."mlflow_artifact_gateway.stores"]` `toy = "toy_store:STORE_TYPE"`.
- The entry points are read once per process, after the built-ins, on the first lookup. The
  module is imported when a destination first uses the scheme; if it cannot be imported, or
  what it names is not a `StoreType` listing that scheme, every destination of the scheme is
  a configuration error (one line, as any other).
- A plug-in cannot take a scheme that is already known (a built-in, or an earlier entry
  point): it is refused with one warning and the scheme keeps its store. Replacing a scheme
  is deliberate: `register(store_type, clobber=True)` before calling `gateway.cli.main.main`.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gateway.stores.options import DestinationOptions, InvalidDestination

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.base import ArtifactStore

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "mlflow_artifact_gateway.stores"


@dataclass(frozen=True)
class StoreType:
    """`create(options, settings)` builds the store; it opens nothing until `start`."""

    schemes: tuple[str, ...]
    options: type[DestinationOptions]
    create: Callable[[Any, Settings], ArtifactStore]
    environment_secrets: tuple[str, ...] = field(default=())  # env vars the backend reads


class SchemeTaken(ValueError):
    """`register` without `clobber` for a scheme another store type already has."""


# scheme -> "module:attribute" of its StoreType
_BUILTIN: Mapping[str, str] = {
    "": "gateway.stores.local:STORE_TYPE",
    "file": "gateway.stores.local:STORE_TYPE",
    "s3": "gateway.stores.s3:STORE_TYPE",
    "gs": "gateway.stores.gcs:STORE_TYPE",
    "wasbs": "gateway.stores.azure:STORE_TYPE",
    "abfss": "gateway.stores.azure:STORE_TYPE",
    "hdfs": "gateway.stores.arrow.hdfs:STORE_TYPE",
    "sftp": "gateway.stores.sftp:STORE_TYPE",
    "ftp": "gateway.stores.ftp:STORE_TYPE",
    "ftps": "gateway.stores.ftp:STORE_TYPE",
}
# scheme -> its StoreType once loaded, before that the entry point that loads it
_known: dict[str, StoreType | EntryPoint] = {
    scheme: EntryPoint(scheme, target, ENTRY_POINT_GROUP) for scheme, target in _BUILTIN.items()
}
_view = MappingProxyType(_known)
_plugins_read = False
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:([\\/]|$)")


def store_types() -> Mapping[str, StoreType | EntryPoint]:
    """Every known scheme, read-only and live: its StoreType, or its entry point until used."""
    global _plugins_read
    if not _plugins_read:
        _plugins_read = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            held = _known.setdefault(entry.name, entry)
            if held is not entry and getattr(held, "value", None) != entry.value:
                log.warning(
                    "store plug-in %s refused: scheme %r is already %s; a plug-in replaces a "
                    "scheme only through register(..., clobber=True)",
                    _described(entry),
                    entry.name,
                    _described(held),
                )
    return _view


def register(store_type: StoreType, *, clobber: bool = False) -> None:
    """Adds `store_type` for each of its schemes, or none of them: SchemeTaken if one is held
    by another store type, unless `clobber` replaces it."""
    taken = [s for s in store_type.schemes if store_types().get(s, store_type) is not store_type]
    if taken and not clobber:
        held = "; ".join(f"{s!r} is {_described(_known[s])}" for s in taken)
        raise SchemeTaken(f"scheme already registered: {held}; pass clobber=True to replace it")
    for scheme in store_type.schemes:
        _known[scheme] = store_type


def unregister(store_type: StoreType) -> None:
    """Forgets `store_type`'s schemes; a built-in scheme it had replaced gets its own back."""
    for scheme in store_type.schemes:
        if _known.get(scheme) is store_type:
            del _known[scheme]
            if scheme in _BUILTIN:
                _known[scheme] = EntryPoint(scheme, _BUILTIN[scheme], ENTRY_POINT_GROUP)


@contextmanager
def registered(store_type: StoreType, *, clobber: bool = False) -> Iterator[StoreType]:
    """For tests and plug-ins with a lifetime: the type is known only inside the block, and
    what it replaced comes back after it."""
    known = store_types()
    before = {s: known[s] for s in store_type.schemes if s in known}
    register(store_type, clobber=clobber)
    try:
        yield store_type
    finally:
        unregister(store_type)
        _known.update(before)


def schemes() -> list[str]:
    return sorted(store_types())


def scheme_of(uri: str) -> str:
    if _WINDOWS_PATH.match(uri):
        return ""
    return urllib.parse.urlparse(uri).scheme.lower()


def store_type_for(uri: str) -> StoreType:
    """Raises InvalidDestination with a one-line reason for unsupported URIs."""
    scheme = scheme_of(uri)
    found = store_types().get(scheme)
    if found is None:
        supported = ", ".join(f"{s}://" for s in schemes() if s) + " or a local path"
        raise InvalidDestination(f"unsupported destination {uri!r}: use {supported}")
    if isinstance(found, EntryPoint):
        found = _known[scheme] = _load(found)
    return found


def _load(entry: EntryPoint) -> StoreType:
    """The entry point's StoreType; a plug-in that fails on import is the destination's error."""
    try:
        loaded = entry.load()
    except Exception as exc:  # whatever the plug-in's module raises while it is imported
        raise InvalidDestination(
            f"store type {entry.value} for {entry.name}:// cannot be loaded: {exc}"
        ) from exc
    if not isinstance(loaded, StoreType) or entry.name not in loaded.schemes:
        raise InvalidDestination(f"{entry.value} is not a StoreType for {entry.name}://")
    return loaded


def _described(held: StoreType | EntryPoint) -> str:
    if isinstance(held, EntryPoint):
        return f"{held.value}" + (f" from {held.dist.name}" if held.dist else "")
    module = getattr(held.create, "__module__", None) or held.options.__module__
    return f"the store type of {module}"


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
