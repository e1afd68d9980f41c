"""The keys SFTP and FTP destinations share, and their URI `scheme://user@host[:port]/path`.

A password written in the URI (MLflow's FTP repository takes `ftp://user:pass@host/path`) is
moved into the `password` secret and the URI kept without it, so no message or log that names
the destination carries it.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator

from gateway.stores.options import DestinationOptions, InvalidDestination


class TreeOptions(DestinationOptions):
    username: str | None = Field(None, description="default: the URI's user")
    password: SecretStr | None = None
    password_file: Path | None = None
    max_connections: int = Field(8, ge=1, le=256, description="connections open at once")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to connect and log in")
    timeout: float = Field(60.0, gt=0, description="seconds any one reply may take")

    @model_validator(mode="before")
    @classmethod
    def _password_out_of_uri(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("uri"), str):
            return raw
        parsed = urllib.parse.urlsplit(raw["uri"].strip())
        if parsed.password is None:
            return raw
        if raw.get("password") is not None or raw.get("password_file") is not None:
            raise ValueError("give the password in the URI or as password(_file), not both")
        host = parsed.netloc.rpartition("@")[2]
        user = urllib.parse.unquote(parsed.username or "")
        userinfo = f"{urllib.parse.quote(user, safe='')}@" if user else ""
        uri = urllib.parse.urlunsplit(parsed._replace(netloc=f"{userinfo}{host}"))
        return {**raw, "uri": uri, "password": urllib.parse.unquote(parsed.password)}

    def host_port_path(self, default_port: int) -> tuple[str, int, str]:
        """Host, port and the absolute base directory of the URI."""
        parsed = urllib.parse.urlsplit(self.uri)
        try:
            port = parsed.port or default_port
        except ValueError as exc:
            raise InvalidDestination(f"{self.uri!r} has an invalid port") from exc
        if not parsed.hostname:
            raise InvalidDestination(f"{self.uri!r} names no host")
        path = urllib.parse.unquote(parsed.path) or "/"
        return parsed.hostname, port, path

    def user(self) -> str | None:
        parsed = urllib.parse.urlsplit(self.uri)
        return self.username or (urllib.parse.unquote(parsed.username) if parsed.username else None)

    def password_value(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None
