"""The base of every scheme's destination model: a URI, typed secrets, secret files.

Secrets are `SecretStr` fields; a `<name>_file` path field beside one is read into it at
start-up. Redaction and secret-file loading find both by type, so no list of secret field
names exists anywhere else.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway import config


class InvalidDestination(ValueError):
    """A destination URI or option that cannot work; reported at start-up."""


def read_secret_file(path: Path) -> SecretStr:
    """config.read_secret_file, its reason reported as the destination's."""
    try:
        return config.read_secret_file(path)
    except ValueError as exc:
        raise InvalidDestination(str(exc)) from exc


def http_endpoint(value: str | None) -> str | None:
    """An `endpoint_url` (emulators, private endpoints): http(s)://host[:port][/path]."""
    if value is not None:
        parsed = urllib.parse.urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be http(s)://host[:port]")
    return value


class DestinationOptions(BaseModel):
    """One destination's configuration; each scheme subclasses it with its own keys."""

    model_config = ConfigDict(extra="forbid")

    uri: str
    artifacts_presigned_only: bool = Field(
        False, description="no bytes through the gateway: clients use presigned storage URLs"
    )

    write_once: list[str] = Field(
        default_factory=list,
        description="paths never overwritten or deleted: fnmatch patterns ('*/models/*') or "
        "prefixes ending in '/'",
    )

    @field_validator("uri")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [
            name
            for name, field in cls.model_fields.items()
            if field.annotation is not None and "SecretStr" in str(field.annotation)
        ]

    @classmethod
    def from_environment(cls, uri: str) -> DestinationOptions:
        """The implicit destination (`--artifacts-destination`): schemes read MLflow's env here."""
        return cls(uri=uri)

    @model_validator(mode="after")
    def _one_source_each(self) -> DestinationOptions:
        for name in self.secret_fields():
            path = getattr(self, f"{name}_file", None)
            if getattr(self, name) is not None and path is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
        return self

    def given(self, name: str) -> bool:
        """Whether a secret is configured, inline or as a file."""
        return getattr(self, name) is not None or getattr(self, f"{name}_file", None) is not None

    def with_secret_files(self) -> DestinationOptions:
        """Reads `*_file` secrets at start-up, so check-config reports them with all else."""
        update: dict[str, Any] = {
            name: read_secret_file(path)
            for name in self.secret_fields()
            if (path := getattr(self, f"{name}_file", None)) is not None
        }
        return self.model_copy(update=update) if update else self

    def secrets(self) -> list[str]:
        values = (getattr(self, name) for name in self.secret_fields())
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
