"""The requests whose answer is MLflow's auth app deciding on an artifact path, changing nothing.

MLflow's `_before_request` (mlflow/server/auth/__init__.py) picks the artifact-proxy validator
by method (`_get_proxy_artifact_validator`): a listing or GET is `read`, PUT and POST are
`update`, DELETE is `manage`, each judged on the path the route names (`_artifact_proxy_path`).
So:

- read: `GET mlflow-artifacts/artifacts?path=<path>`, the listing of the very path;
- write: `POST mlflow-artifacts/mpu/create/<path>` with `{}`: the validator judges `<path>`,
  then the handler refuses the body (`path` is required) before touching any store;
- delete: the only DELETE route deletes, so it is asked about a path nobody can have written,
  judged the same way. `_artifact_proxy_child_types(recursive=True)` judges a delete by the
  experiment (from `_EXPERIMENT_ID_PATTERN`, with the optional `workspaces/<ws>/` prefix) and
  the path's first segment below it: `models` the logged-model tier, `traces` the trace tier,
  anything else the run tier, and the experiment's root all three. So `<path>/<nonce>` is
  judged as `<path>`, and the root is three probes, one per tier, that must all allow
  (`authorize` requires every requirement; each probe carries the same experiment READ
  requirement). Under `--no-serve-artifacts` (deployments A and B) the handler answers 503
  before anything else; a tracking server that serves artifacts deletes nothing, as nothing is
  there.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from gateway.auth.actions import Action

ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts"
MPU_CREATE = "api/2.0/mlflow-artifacts/mpu/create"
# mlflow/server/auth/__init__.py `_EXPERIMENT_ID_PATTERN` (3.18 matches it case-insensitively).
_EXPERIMENT = re.compile(r"^((?:workspaces/[^/]+/)?\d+)(?:/|$)", re.IGNORECASE)
_ROOT_TIERS = (
    "gateway-probe-{nonce}",
    "models/gateway-probe-{nonce}",
    "traces/gateway-probe-{nonce}",
)


@dataclass(frozen=True)
class Probe:
    method: str
    route: str  # below the tracking server's base URL; `route` may end in the path itself
    query: str | None  # the `path` query parameter
    json: object  # the body, or None
    key: str  # what the answer is remembered by: the same key, the same decision


def probes_for(action: Action, path: str) -> list[Probe]:
    """The requests that must all be allowed for `action` on the normalised `path`."""
    if action is Action.READ:
        return [Probe("GET", ARTIFACTS, path, None, path)]
    if action is Action.WRITE:
        return [Probe("POST", f"{MPU_CREATE}/{path}", None, {}, path)]
    match = _EXPERIMENT.match(path)
    if match is not None and match.end() >= len(path):
        below = [tier.format(nonce=uuid.uuid4().hex) for tier in _ROOT_TIERS]
        return [
            _delete(f"{match.group(1)}/{rest}", f"{path}\0{tier}")
            for rest, tier in zip(below, ("run", "model", "trace"), strict=True)
        ]
    return [_delete(f"{path}/gateway-probe-{uuid.uuid4().hex}", path)]


def _delete(probe_path: str, key: str) -> Probe:
    return Probe("DELETE", f"{ARTIFACTS}/{probe_path}", None, None, key)
