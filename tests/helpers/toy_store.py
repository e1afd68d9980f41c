"""`toy://`, a store plug-in as a third party would ship it: files in a dict, the fewest
primitives a store needs, its own options and secrets.

`install(directory)` makes `directory` hold it as an installed distribution (the module and a
`toy_store-0.0.0.dist-info` with its entry points), so a gateway process with `directory` on
its `PYTHONPATH` finds it through `importlib.metadata`, as it would find a pip-installed one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from gateway.stores import (
    ENTRY_POINT_GROUP,
    ArtifactStore,
    ByteSource,
    DestinationOptions,
    Download,
    Entry,
    FileStat,
    StoreType,
)
from gateway.stores.errors import NotFound


class ToyOptions(DestinationOptions):
    colour: str = "grey"
    token: SecretStr | None = None
    token_file: Path | None = None


class ToyDownload(Download):
    def __init__(self, data: bytes, stat: FileStat) -> None:
        super().__init__(stat, 0, len(data))
        self._data = data

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._data

    async def close(self) -> None:
        pass


class ToyStore(ArtifactStore):
    def __init__(self, options: ToyOptions, settings: object) -> None:
        super().__init__(options.uri)
        self.options = options
        self.files: dict[str, bytes] = {}

    @property
    def endpoint(self) -> str:
        """Everything it was given, secrets included: the gateway must redact them."""
        token = self.options.token.get_secret_value() if self.options.token else None
        return f"colour={self.options.colour} token={token} key={os.environ.get('TOY_KEY')}"

    async def stat(self, path: str) -> FileStat:
        if path not in self.files:
            raise NotFound(f"No such file: '{path}'", destination=self.name)
        return FileStat(len(self.files[path]), '"toy"', datetime.now(timezone.utc))

    async def open(self, path, byte_range) -> Download:
        stat = await self.stat(path)
        return ToyDownload(self.files[path], stat)

    async def write(self, path: str, body: ByteSource, size_hint: int | None = None) -> None:
        self.files[path] = await body.read()  # -1: to the end (ByteSource's contract)

    async def list(self, path: str) -> list[Entry]:
        prefix = f"{path}/" if path else ""
        names = {p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)}
        return [Entry(n, f"{prefix}{n}" not in self.files, None) for n in sorted(names)]

    async def delete(self, path: str) -> None:
        self.files.pop(path, None)


STORE_TYPE = StoreType(
    schemes=("toy",), options=ToyOptions, create=ToyStore, environment_secrets=("TOY_KEY",)
)


def install(directory: Path, **points: str) -> Path:
    """`directory` as a site directory holding this module as distribution `toy-store`, with
    the entry points `scheme="module:attribute"` (default: `toy="toy_store:STORE_TYPE"`)."""
    points = points or {"toy": "toy_store:STORE_TYPE"}
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, directory / "toy_store.py")
    info = directory / "toy_store-0.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-store\nVersion: 0.0.0\n")
    lines = "".join(f"{scheme} = {target}\n" for scheme, target in points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    return directory
