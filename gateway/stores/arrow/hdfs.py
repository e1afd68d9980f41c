"""HDFS destinations (`hdfs://<host>:<port>/<path>`, `hdfs:///<path>` for the cluster default)
over `pyarrow.fs.HadoopFileSystem`, which drives libhdfs inside a JVM.

The arguments are MLflow's (`mlflow/store/artifact/hdfs_artifact_repo.py`): host
`hdfs://<host>` or `default`, port or 0, the Kerberos user and ticket cache, extra Hadoop
configuration; the implicit destination reads MLflow's `MLFLOW_KERBEROS_TICKET_CACHE`,
`MLFLOW_KERBEROS_USER` and `MLFLOW_PYARROW_EXTRA_CONF`. libhdfs needs `JAVA_HOME`, Hadoop's
jars on `CLASSPATH` and `libhdfs.so`: what is missing is one start-up error, before the JVM
would fail somewhere less readable.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from gateway.stores.options import DestinationOptions, InvalidDestination
from gateway.stores.registry import StoreType

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.stores.arrow.store import ArrowStore


class HdfsOptions(DestinationOptions):
    host: str | None = None  # default: the URI's host, or `default` (fs.defaultFS)
    port: int | None = Field(default=None, ge=0, le=65535)
    user: str | None = None
    kerberos_ticket_cache: str | None = None
    extra_conf: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_environment(cls, uri: str, env: Mapping[str, str] | None = None) -> HdfsOptions:
        env = os.environ if env is None else env
        return cls(
            uri=uri,
            user=env.get("MLFLOW_KERBEROS_USER") or None,
            kerberos_ticket_cache=env.get("MLFLOW_KERBEROS_TICKET_CACHE") or None,
            extra_conf=parse_extra_conf(env.get("MLFLOW_PYARROW_EXTRA_CONF", "")),
        )


def parse_extra_conf(value: str) -> dict[str, str]:
    """MLflow's format: `key=value,key=value`."""
    if not value:
        return {}
    pairs = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise InvalidDestination(f"MLFLOW_PYARROW_EXTRA_CONF: {item!r} is not key=value")
        pairs[key] = val
    return pairs


def parse_hdfs_uri(uri: str) -> tuple[str | None, int | None, str]:
    parsed = urllib.parse.urlparse(uri)
    path = parsed.path or "/"
    try:
        port = parsed.port
    except ValueError as exc:
        raise InvalidDestination(f"{uri!r} has an invalid port") from exc
    return parsed.hostname, port, path


def filesystem_arguments(options: HdfsOptions) -> dict[str, Any]:
    """`HadoopFileSystem`'s keyword arguments, as MLflow builds them."""
    host, port, _ = parse_hdfs_uri(options.uri)
    host = options.host or host
    return {
        "host": f"hdfs://{host}" if host else "default",
        "port": options.port if options.port is not None else (port or 0),
        "user": options.user,
        "kerb_ticket": options.kerberos_ticket_cache,
        "extra_conf": dict(options.extra_conf) or None,
    }


def missing_runtime(env: Mapping[str, str] | None = None) -> list[str]:
    """What libhdfs needs and this process lacks, as pyarrow looks for it; a libhdfs3 driver
    asked for in MLflow's variable is refused outright."""
    env = os.environ if env is None else env
    missing = []
    driver = env.get("MLFLOW_HDFS_DRIVER", "")
    if driver and driver != "libhdfs":
        raise InvalidDestination(
            f"MLFLOW_HDFS_DRIVER={driver} is not supported: pyarrow no longer ships the "
            "libhdfs3 driver; unset it to use libhdfs (the JVM client)"
        )
    java = env.get("JAVA_HOME")
    if not java or not Path(java).is_dir():
        missing.append("JAVA_HOME (a JDK)")
    if "hadoop" not in env.get("CLASSPATH", "").lower():
        missing.append("CLASSPATH (Hadoop's jars: `hadoop classpath --glob`)")
    hadoop = env.get("HADOOP_HOME")
    places = [env.get("ARROW_LIBHDFS_DIR"), f"{hadoop}/lib/native" if hadoop else None]
    if not any(place and Path(place, "libhdfs.so").is_file() for place in places):
        missing.append("libhdfs.so (in ARROW_LIBHDFS_DIR or $HADOOP_HOME/lib/native)")
    return missing


def _connect(options: HdfsOptions) -> Any:
    from pyarrow import fs

    return fs.HadoopFileSystem(**filesystem_arguments(options))


def _create(options: HdfsOptions, settings: Settings) -> ArrowStore:
    from gateway.stores.arrow.store import RangedArrowStore, Traits

    if missing := missing_runtime():
        raise InvalidDestination(
            f"HDFS destination {options.uri} needs libhdfs and a JVM; missing: "
            + ", ".join(missing)
        )
    _, _, path = parse_hdfs_uri(options.uri)
    arguments = filesystem_arguments(options)
    return RangedArrowStore(
        options.uri,
        connect=lambda: _connect(options),
        base=path,
        root=path,
        chunk_size=settings.chunk_size,
        traits=Traits(makes_dirs=True),
        endpoint=f"{arguments['host']}:{arguments['port']}",
    )


STORE_TYPE = StoreType(schemes=("hdfs",), options=HdfsOptions, create=_create)
