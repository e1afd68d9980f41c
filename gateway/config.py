"""Settings: CLI flags > GATEWAY_* env > YAML file (--config) > defaults."""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from gateway.auth.config import AuthConfig
from gateway.experiments import ExperimentRange
from gateway.tenancy import Selector, prefix_of, workspace_name

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * 1024 * MIB


class S3Transfer(BaseModel):
    """How uploads are cut into parts; memory per upload is about part_size * (concurrency + 1)."""

    model_config = {"extra": "forbid"}

    part_size: ByteSize = Field(ByteSize(8 * MIB), ge=S3_MIN_PART, le=S3_MAX_PART)
    max_concurrency: int = Field(3, ge=1, le=64)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(120.0, gt=0)
    max_pool_connections: int = Field(64, ge=1)
    splice: bool = Field(
        True,
        description="downloads from plain-http endpoints go socket to socket with os.splice "
        "(Linux); off: every byte is copied through the gateway's event loop",
    )


class UpstreamProxy(BaseModel):
    """How metadata traffic reaches the tracking server behind the gateway (--tracking-uri)."""

    model_config = {"extra": "forbid"}

    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(300.0, gt=0, description="longest wait for the next upstream byte")
    max_connections: int = Field(100, ge=1)
    keepalive_timeout: float = Field(
        1.5,
        gt=0,
        description="idle pooled connections are dropped after this, before the tracking "
        "server drops them (uvicorn: 5 s, gunicorn: 2 s), so none is reused as it closes",
    )
    max_connections_per_user: int = Field(
        16,
        ge=1,
        description="upstream connections one user (or client address) may hold at once; "
        "past it, 429 (issue 23: one user could take the whole pool)",
    )
    allow_local_locations: bool = Field(
        False,
        description="pass tracking artifact routes whose location is local (file:, a path) to "
        "the tracking server; refused by default, as any user could name another's files",
    )
    forward_authorization: bool = True
    gateway_hosts: list[str] = Field(
        default_factory=list,
        description="host[:port] names clients reach this gateway by, besides the request's Host",
    )


def read_secret_file(path: Path) -> SecretStr:
    """Docker and Kubernetes secrets are files; a trailing newline is not part of the secret.

    Raises ValueError with the reason; destinations (stores.options) report it as theirs."""
    try:
        value = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValueError(f"cannot read secret file '{path}': {reason}") from exc
    if not value:
        raise ValueError(f"secret file '{path}' is empty")
    return SecretStr(value)


class Multipart(BaseModel):
    """Client-driven multipart uploads and ranged downloads through URLs the gateway signs."""

    model_config = {"extra": "forbid"}

    signing_secret: SecretStr | None = Field(
        None, description="HMAC key for part and download URLs; the same on every replica"
    )
    signing_secret_file: Path | None = Field(
        None, description="a file holding signing_secret (a mounted Kubernetes or Docker secret)"
    )
    url_ttl: int = Field(3600, ge=1, le=7 * 86400, description="seconds a signed URL stays valid")
    max_part_size: ByteSize = Field(
        ByteSize(S3_MAX_PART), ge=1, le=S3_MAX_PART, description="largest part a client may PUT"
    )
    direct: bool = Field(False, description="hand out S3 presigned URLs (clients reach the bucket)")
    cleanup_age: int = Field(86400, ge=2, description="abort uploads older than this (seconds)")
    cleanup_interval: int = Field(3600, ge=1, description="seconds between cleanup passes")

    @field_validator("signing_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _secret_from_file(self) -> Multipart:
        """Read at start-up like the destinations' `*_file` secrets, so check-config sees it."""
        if self.signing_secret_file is not None:
            if self.signing_secret is not None:
                raise ValueError("give signing_secret or signing_secret_file, not both")
            secret = read_secret_file(self.signing_secret_file)
            if len(secret.get_secret_value()) < 32:
                raise ValueError("signing_secret_file must hold at least 32 characters")
            self.signing_secret = secret
        return self

    @model_validator(mode="after")
    def _outlives_urls(self) -> Multipart:
        if self.cleanup_age <= self.url_ttl:
            raise ValueError("cleanup_age must exceed url_ttl, or live uploads would be aborted")
        return self


class FairShare(BaseModel):
    """What one user (or client address, or part link) may take of the process's resources,
    and the slowest transfer it may keep open (docs/security.md lists each limit's attack)."""

    model_config = {"extra": "forbid"}

    user_share: float = Field(
        0.25, gt=0, le=1, description="fraction of --memory-budget one share may hold at once"
    )
    max_requests_per_user: int = Field(
        64, ge=1, description="requests one share may have in flight at once; past it, 429"
    )
    min_rate: ByteSize = Field(
        ByteSize(32 * 1024),
        ge=1,
        description="bytes/s a request body or response must average once the grace is over",
    )
    rate_grace: float = Field(
        30.0, gt=0, description="seconds before the rate floor applies to a transfer"
    )


class MetricsEndpoint(BaseModel):
    """`/metrics`: on by default; `require_permission` lets only users with `metrics: true` in."""

    model_config = {"extra": "forbid"}

    enabled: bool = Field(True, description="serve /metrics; off also stops the counting")
    require_permission: bool = Field(
        False, description="only authenticated users with `metrics: true` may scrape"
    )


class RawDestination(dict):
    """One destination's keys before its scheme's model (gateway.stores) validates them.

    Values may be secrets, so the repr shows the keys only.
    """

    def __repr__(self) -> str:
        return f"RawDestination(keys={sorted(self)})"


def parse_networks(values: Iterable[str]) -> list[Network]:
    """`10.0.0.5`, `10.0.0.0/8`, `::1`: each an address or CIDR (host bits allowed).

    Here rather than in `forwarded`, which reads the result per request: loading settings
    (`check-config`, `routes`) should not import aiohttp's server.
    """
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from exc
    return networks


def _comma_separated(value: Any) -> Any:
    """`a,b` from a flag or the environment, as MLflow writes `--allowed-hosts`; YAML may list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]

DestinationName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([_-][a-z0-9]+)*$")]


class RouteConfig(BaseModel):
    """A workspace, experiments (IDs and inclusive ranges, optionally within a workspace) or a
    path prefix (optionally within a workspace) whose artifacts live in one destination."""

    model_config = {"extra": "forbid"}

    workspace: str | None = None
    experiments: list[str] | None = Field(None, min_length=1)
    prefix: str | None = None
    destination: str
    write_once: list[str] = Field(
        default_factory=list,
        description="paths of this route never overwritten or deleted (as a destination's "
        "write_once)",
    )

    @field_validator("workspace")
    @classmethod
    def _workspace(cls, value: str | None) -> str | None:
        return None if value is None else workspace_name(value)

    @field_validator("experiments")
    @classmethod
    def _parse(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [str(ExperimentRange.parse(v)) for v in values]

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return None if value is None else prefix_of(value)

    @model_validator(mode="after")
    def _names_something(self) -> RouteConfig:
        if self.experiments is not None and self.prefix is not None:
            raise ValueError("a route names experiments or a prefix, not both")
        if self.workspace is None and self.experiments is None and self.prefix is None:
            raise ValueError("a route names a workspace, experiments or a prefix")
        return self

    def selectors(self) -> list[Selector]:
        if self.experiments is not None:
            ranges = [ExperimentRange.parse(value) for value in self.experiments]
            return [Selector(self.workspace, experiments=rng) for rng in ranges]
        return [Selector(self.workspace, prefix=self.prefix)]


class WorkspacesConfig(BaseModel):
    """MLflow 3 workspaces (`mlflow server --enable-workspaces`): see docs/tenancy.md."""

    model_config = {"extra": "forbid"}

    enabled: bool | None = Field(
        None,
        description="absent: as the tracking server's /server-info says (off without one)",
    )
    require_header: bool = Field(
        False,
        description="refuse artifact requests without X-MLFLOW-WORKSPACE, as MLflow does when "
        "its workspace provider has no default workspace; off: the default workspace",
    )


class Settings(BaseSettings):
    """MLflow artifact gateway. Subcommands: routes, check-config, hash-password."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_prefix_target="all",
        env_nested_delimiter="__",
        extra="forbid",
        cli_prog_name="artifact-gateway",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_exit_on_error=True,
    )

    config: Path | None = Field(None, description="YAML configuration file")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(5500, ge=0, le=65535, description="port to listen on")
    artifacts_destination: str = Field(
        "./mlartifacts", description="default destination: a path, file: URI or s3://bucket/prefix"
    )
    tracking_uri: str | None = Field(
        None, description="upstream MLflow tracking server; absent = artifacts only"
    )
    workers: int = Field(
        1, ge=1, le=64, description="worker processes sharing the port, one event loop each"
    )
    chunk_size: ByteSize = Field(
        ByteSize(MIB), ge=16 * 1024, le=64 * MIB, description="streaming chunk size"
    )
    memory_budget: ByteSize = Field(
        ByteSize(256 * MIB),
        ge=16 * MIB,
        description="bytes of upload parts and download chunks buffered at once, per process; "
        "transfers wait (and stop reading) when it is spent",
    )
    s3: S3Transfer = Field(default_factory=S3Transfer)
    upstream: UpstreamProxy = Field(default_factory=UpstreamProxy)
    multipart: Multipart = Field(default_factory=Multipart)
    fair_share: FairShare = Field(default_factory=FairShare)
    public_url: str | None = Field(
        None, description="external base URL for signed links; default from X-Forwarded-*/Host"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="text lines, or one JSON object a line"
    )
    metrics: MetricsEndpoint = Field(default_factory=MetricsEndpoint)
    shutdown_timeout: float = Field(
        30.0,
        ge=0,
        description="seconds in-flight requests get to finish after SIGTERM; then aborted",
    )
    allowed_hosts: CommaList | None = Field(
        None,
        description="Host headers to accept, comma-separated host[:port] with * wildcards (as "
        "MLflow's --allowed-hosts); default: localhost and private addresses; public_url and "
        "upstream.gateway_hosts always count",
    )
    cors_allowed_origins: CommaList = Field(
        default_factory=list,
        description="origins (scheme://host[:port], * wildcards) whose pages may write through "
        "a browser, as MLflow's --cors-allowed-origins; the gateway's own and localhost always may",
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="addresses or CIDRs whose Forwarded/X-Forwarded-*/X-Real-IP are believed",
    )
    header_timeout: float = Field(
        30.0, gt=0, description="seconds a client may take to send a request's headers"
    )
    body_idle_timeout: float = Field(
        60.0, gt=0, description="seconds a request body may stall before the connection is closed"
    )
    artifacts_presigned_only: bool = Field(
        False,
        description="every destination presigned-only (as MLflow's flag): clients move bytes on "
        "presigned storage URLs, the gateway refuses to carry them",
    )
    ready_details: bool = Field(
        False, description="show /ready's details to anonymous callers (always to known users)"
    )
    # Each destination is validated by its scheme's own model (gateway.stores.registry).
    destinations: dict[
        DestinationName, Annotated[dict[str, Any], AfterValidator(RawDestination)]
    ] = Field(default_factory=dict, description="named destinations (see docs/tenancy.md)")
    routes: list[RouteConfig] = Field(
        default_factory=list,
        description="workspaces, experiments and prefixes to destinations (see docs/tenancy.md)",
    )
    workspaces: WorkspacesConfig = Field(default_factory=WorkspacesConfig)
    default_destination_name: str | None = Field(
        None,
        validation_alias="default_destination",
        description="destination of unrouted experiments; absent = --artifacts-destination",
    )
    auth: AuthConfig | None = Field(None, description="client authentication; absent = off")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @field_validator("tracking_uri")
    @classmethod
    def _http_upstream(cls, value: str | None) -> str | None:
        """The upstream is an http(s) base URL; credentials in it would be sent for every caller."""
        if value is None or not value.strip():
            return None
        parsed = urllib.parse.urlsplit(value.strip())
        if parsed.username is not None or parsed.password is not None:
            raise ValueError("must not contain credentials: callers' Authorization is forwarded")
        return _base_url(value, "of the MLflow tracking server")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return [str(network) for network in parse_networks(values)]

    @field_validator("public_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _base_url(value, "")

    @model_validator(mode="after")
    def _metrics_users(self) -> Settings:
        if self.metrics.require_permission and self.auth is None:
            raise ValueError("metrics.require_permission needs auth: users with metrics: true")
        return self


def _base_url(value: str, what: str) -> str:
    """An http(s) URL that others are appended to: no query, no fragment, no trailing slash."""
    parsed = urllib.parse.urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"must be an http:// or https:// URL {what}".rstrip())
    if parsed.query or parsed.fragment:
        raise ValueError("must not have a query or fragment")
    return value.strip().rstrip("/")


def _config_file(argv: Sequence[str]) -> str | None:
    """--config must be known before the sources are built, so it is found first."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return os.environ.get("GATEWAY_CONFIG")


def load_settings(argv: Sequence[str]) -> Settings:
    """Parse flags, env and the YAML file; pydantic's ValidationError carries every problem."""
    config_file = _config_file(argv)
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigFileError(f"config file {config_file!r} does not exist or is not a file")

    class _Loaded(Settings):
        __doc__ = Settings.__doc__  # --help shows it
        model_config = SettingsConfigDict(yaml_file=config_file)

    return _Loaded(_cli_parse_args=list(argv))


class ConfigFileError(Exception):
    """The configuration file itself cannot be read."""


class ConfigProblems(Exception):
    """Everything wrong with a configuration, one line each, so all are reported at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
