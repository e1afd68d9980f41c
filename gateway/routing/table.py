"""The routing table: which named destination serves each tenancy key (workspace, experiment,
path prefix; the most specific route wins, `gateway.tenancy.Selector.rank`).

Built from `destinations`, `routes` and `default_destination`; every problem in them is
collected, so `check-config` and start-up can report all of them at once, one line each.
"""

from __future__ import annotations

from gateway.config import ConfigProblems, Settings
from gateway.experiments import ANY_EXPERIMENT
from gateway.tenancy import SelectorMap, TenancyKey, conflicts

IMPLICIT = "default"  # --artifacts-destination with the AWS_* / MLFLOW_S3_* environment


class InvalidRouting(ConfigProblems):
    """Unknown or reserved destination names, overlapping ranges."""


class RoutingTable:
    def __init__(self, routes: SelectorMap[str]) -> None:
        self.routes = routes
        self.default = routes.default

    @classmethod
    def single(cls) -> RoutingTable:
        return cls(SelectorMap([], IMPLICIT))

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingTable:
        """Raises InvalidRouting listing every unknown name, overlap and reserved name."""
        known = set(settings.destinations) | {IMPLICIT}
        problems = []
        if IMPLICIT in settings.destinations:
            problems.append(
                f"destinations.{IMPLICIT}: the name is reserved for the destination "
                "given by --artifacts-destination"
            )

        def check(where: str, name: str) -> None:
            if name not in known:
                listed = ", ".join(sorted(known))
                problems.append(f"{where}: unknown destination {name!r} (known: {listed})")

        labelled, routed = [], []
        for i, route in enumerate(settings.routes):
            check(f"routes[{i}]", route.destination)
            labelled += [(selector, f"routes[{i}]") for selector in route.selectors()]
            routed += [(selector, route.destination) for selector in route.selectors()]
        problems += conflicts(labelled)
        default = settings.default_destination_name or IMPLICIT
        check("default_destination", default)
        if problems:
            raise InvalidRouting(problems)
        return cls(SelectorMap(routed, default))

    def destination_of(self, key: TenancyKey) -> str:
        return self.routes.get(key)

    def rows(self) -> list[tuple[str, str]]:
        """(selector, destination) in precedence order, the default last as '*'."""
        return [(str(selector), name) for selector, name in self.routes.items] + [
            (ANY_EXPERIMENT, self.default)
        ]

    def used(self) -> list[str]:
        return sorted({name for _, name in self.routes.items} | {self.default})
