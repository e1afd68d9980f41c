"""The tenancy key of an artifact path: (workspace, experiment, rest), parsed once.

MLflow 3 (`mlflow server --enable-workspaces`) keeps proxied artifacts of the default workspace
in the legacy root layout and those of any other workspace under `workspaces/<ws>/`; the
workspace comes from the `X-MLFLOW-WORKSPACE` header (`scoped_path` mirrors
`_get_workspace_scoped_repo_path_if_enabled` in mlflow/server/handlers.py, 3.17.2 and 3.18).
The key is read from the *stored* path only, so a path means the same tenant whether workspaces
are on or off and whichever spelling the client sent. Routing, permissions, listings and the
guard all take this key; nothing else looks at a path's first segment.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import InvalidParameter
from gateway.experiments import ExperimentRange, experiment_number, overlaps

T = TypeVar("T")

DEFAULT_WORKSPACE = "default"  # mlflow.utils.workspace_utils.DEFAULT_WORKSPACE_NAME
WORKSPACES_DIR = "workspaces"  # WORKSPACES_DIR_NAME
HEADER = "X-MLFLOW-WORKSPACE"  # WORKSPACE_HEADER_NAME

# mlflow.store.workspace.abstract_store.WorkspaceNameValidator
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESERVED = frozenset({"workspaces", "api", "ajax-api", "static-files"})


def validate_workspace(name: str) -> str:
    """MLflow's `WorkspaceNameValidator.validate`, with its messages; 'default' is always valid."""
    if name == DEFAULT_WORKSPACE:
        return name
    if not 2 <= len(name) <= 63:
        raise InvalidParameter(f"Workspace name '{name}' must be between 2 and 63 characters.")
    if not _NAME.match(name):
        raise InvalidParameter(
            f"Workspace name '{name}' must match the pattern {_NAME.pattern} "
            "(lowercase alphanumeric with optional internal hyphens)."
        )
    if name in _RESERVED:
        raise InvalidParameter(f"Workspace name '{name}' is reserved and cannot be used.")
    return name


def scoped_path(path: str, workspace: str | None) -> str:
    """Where MLflow stores the normalised `path` for a request of `workspace`.

    `workspace` None: workspaces are off and the path is stored as sent.
    """
    if workspace is None:
        return path
    if not path:  # the default workspace's top level is the legacy root
        return path if workspace == DEFAULT_WORKSPACE else posixpath.join(WORKSPACES_DIR, workspace)
    # 3.18 compares the reserved segment case-insensitively (a case-insensitive local store
    # serves `WORKSPACES/` as `workspaces/`); 3.17.2 did not. The stricter rule for both.
    if workspace == DEFAULT_WORKSPACE and not path.lower().startswith(WORKSPACES_DIR + "/"):
        return path  # the legacy layout; only the reserved namespace is checked
    leading = path.split("/", 2)
    if leading[0].lower() == WORKSPACES_DIR:
        if len(leading) == 1 or not leading[1]:
            raise InvalidParameter(
                "Artifact paths prefixed with 'workspaces/' must include a workspace name."
            )
        if leading[1] != workspace:
            raise InvalidParameter(
                f"Artifact path targets workspace '{leading[1]}' "
                f"but the workspace specified in the request is '{workspace}'."
            )
        return path
    return posixpath.join(WORKSPACES_DIR, workspace, path)


@dataclass(frozen=True)
class TenancyKey:
    """`experiment` is the first segment below the workspace ('' at a workspace's top level,
    where only a merged listing is possible); `stored` is the path in the destination."""

    workspace: str
    experiment: str
    rest: str
    stored: str

    @property
    def below_workspace(self) -> str:
        """The path inside the workspace, which prefix rules match."""
        return f"{self.experiment}/{self.rest}" if self.rest else self.experiment

    def __str__(self) -> str:
        where = f"experiment {self.experiment!r}" if self.experiment else "the artifact root"
        if self.workspace != DEFAULT_WORKSPACE:
            where += f" in workspace {self.workspace!r}"
        return where


def key_of(stored: str) -> TenancyKey:
    """The key of a normalised stored path. `workspaces/<ws>/...` is workspace `ws` (when its
    name is valid); everything else is the default workspace's legacy layout, `workspaces`
    alone included (a first segment no rule can name)."""
    parts = stored.split("/", 3) if stored else []
    # Case-insensitively: on a case-insensitive local store `WORKSPACES/Team-A/` is team-a's.
    if len(parts) >= 2 and parts[0].lower() == WORKSPACES_DIR and _valid(parts[1].lower()):
        below = parts[2:]
        return TenancyKey(
            parts[1].lower(), below[0] if below else "", below[1] if len(below) > 1 else "", stored
        )
    head, _, rest = stored.partition("/")
    return TenancyKey(DEFAULT_WORKSPACE, head, rest, stored)


def _valid(name: str) -> bool:
    try:
        validate_workspace(name)
    except InvalidParameter:
        return False
    return True


@dataclass(frozen=True)
class Selector:
    """What one route or permission names: a workspace, experiments, a path prefix, or a
    workspace with either. Written as in permissions: `7`, `10-20`, `prefix:team-x/`,
    `workspace:team-a`, `workspace:team-a:7`, `workspace:team-a:prefix:team-x/`."""

    workspace: str | None = None
    experiments: ExperimentRange | None = None
    prefix: str | None = None

    @classmethod
    def parse(cls, text: str) -> Selector:
        """ValueError with the reason; '*' is not a selector (it is what none names)."""
        text = str(text).strip()
        workspace = None
        if text.startswith("workspace:"):
            workspace, _, text = text.removeprefix("workspace:").partition(":")
            workspace = workspace_name(workspace)
            if not text:
                return cls(workspace)
        if text.startswith("prefix:"):
            return cls(workspace, prefix=prefix_of(text.removeprefix("prefix:")))
        return cls(workspace, experiments=ExperimentRange.parse(text))

    def matches(self, key: TenancyKey) -> bool:
        if self.workspace is not None and self.workspace != key.workspace:
            return False
        if self.experiments is not None:
            number = experiment_number(key.experiment)
            return number is not None and number in self.experiments
        if self.prefix is not None:  # case-insensitively, for case-insensitive local stores
            below, prefix = key.below_workspace.lower(), self.prefix.lower()
            return below == prefix or below.startswith(prefix + "/")
        return True

    @property
    def rank(self) -> tuple[int, int]:
        """Most specific first: the precedence table of docs/tenancy.md."""
        if self.prefix is not None:
            tier = 5 if self.workspace is not None else 3
        elif self.experiments is not None:
            tier = 4 if self.workspace is not None else 2
        else:
            tier = 1
        return (tier, len(self.prefix or ""))

    def __str__(self) -> str:
        inner = f"prefix:{self.prefix}/" if self.prefix is not None else str(self.experiments or "")
        if self.workspace is None:
            return inner
        return f"workspace:{self.workspace}" + (f":{inner}" if inner else "")


def workspace_name(text: str) -> str:
    """A workspace as configuration names it: MLflow's rule, so no route can name a workspace
    no client can select."""
    try:
        return validate_workspace(text.strip())
    except InvalidParameter as exc:
        raise ValueError(exc.message) from exc


def prefix_of(text: str) -> str:
    """`team-x/` or `team-x/sub`: whole segments, no dots, not under `workspaces/`; matched
    case-insensitively."""
    prefix = text.strip().strip("/")
    segments = prefix.split("/")
    if not prefix or any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"prefix {text!r} must be one or more path segments, like 'team-x/'")
    if segments[0].lower() == WORKSPACES_DIR:
        raise ValueError(f"prefix {text!r}: name a workspace with 'workspace', not a prefix")
    return prefix


def conflicts(labelled: Iterable[tuple[Selector, str]]) -> list[str]:
    """One line per pair of selectors that would both be the most specific for some path:
    overlapping ranges, or the same prefix or workspace twice, within one workspace scope."""
    groups: dict[tuple[str | None, int], list[tuple[Selector, str]]] = {}
    for selector, label in labelled:
        groups.setdefault((selector.workspace, selector.rank[0]), []).append((selector, label))
    problems = []
    for (workspace, _), items in groups.items():
        where = f" in workspace {workspace!r}" if workspace else ""
        ranges = [(s.experiments, label) for s, label in items if s.experiments is not None]
        problems += [f"{line}{where}" for line in overlaps(ranges)]
        seen: dict[str, str] = {}
        for selector, label in items:
            if selector.experiments is None:
                if (text := str(selector)) in seen:
                    problems.append(f"{text} ({seen[text]}) and ({label}) name the same paths")
                seen.setdefault(text, label)
    return problems


class SelectorMap(Generic[T]):
    """Selectors to values; the most specific selector matching a key wins, else `default`."""

    def __init__(self, items: Iterable[tuple[Selector, T]], default: T) -> None:
        self.items = sorted(items, key=lambda item: _precedence(item[0]))
        self.default = default

    def get(self, key: TenancyKey) -> T:
        for selector, value in self.items:
            if selector.matches(key):
                return value
        return self.default


def _precedence(selector: Selector) -> tuple[int, int, int]:
    """Most specific first; within a tier, in ID order (as `routes` prints them)."""
    tier, length = selector.rank
    return (-tier, -length, selector.experiments.first if selector.experiments else 0)
