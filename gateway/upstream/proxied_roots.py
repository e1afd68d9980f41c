"""Which artifact roots the gateway serves itself, and where they lie in its destination.

A run, model version or logged model whose artifact location is `mlflow-artifacts:` (no host, or
this gateway's host) or an http(s) URL to this gateway's artifacts route has its bytes here; any
other location belongs to whoever the tracking server says. The rule mirrors MLflow's
`_get_proxied_run_artifact_destination_path`, plus the host check MLflow leaves out.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection

from gateway import paths

ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"


def destination_path(root_uri: str, own_hosts: Collection[str]) -> str | None:
    """`mlflow-artifacts:/1/abc/artifacts` -> `1/abc/artifacts`; None when not served here.

    `own_hosts` are lower-case `host[:port]` names this gateway is reached by.
    """
    parsed = urllib.parse.urlsplit(root_uri)
    scheme = parsed.scheme.lower()
    host = parsed.netloc.lower()
    if scheme == "mlflow-artifacts" and (not host or host in own_hosts):
        raw = parsed.path
    elif scheme in ("http", "https") and host in own_hosts:
        _, anchor, rest = parsed.path.partition(ARTIFACTS_ROUTE)
        if not anchor or rest[:1] not in ("", "/"):
            return None
        raw = urllib.parse.unquote(rest)
    else:
        return None
    return paths.normalize(raw.lstrip("/"))


def join(root_path: str, relative: str) -> str:
    """A normalised relative artifact path inside a root's destination path."""
    return "/".join(part for part in (root_path, relative) if part)
