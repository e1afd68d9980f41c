"""Experiment IDs and inclusive ID ranges, as routes and permissions name them.

`gateway.tenancy` finds an artifact path's experiment. Only canonical decimal IDs (`7`, not
`007`) match a numbered rule, so a path can never reach a rule's destination or permission
through a spelling that the rule's owner did not write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ANY_EXPERIMENT = "*"  # in tables and permissions: every experiment no rule names

_ID = re.compile(r"0|[1-9][0-9]{0,17}")
_RANGE = re.compile(r"(0|[1-9][0-9]{0,17})\s*-\s*(0|[1-9][0-9]{0,17})")


def experiment_number(experiment: str) -> int | None:
    return int(experiment) if _ID.fullmatch(experiment) else None


@dataclass(frozen=True, order=True)
class ExperimentRange:
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> ExperimentRange:
        """`'7'` or `'10-20'` (inclusive); ValueError with the reason otherwise."""
        text = str(text).strip()
        if _ID.fullmatch(text):
            return cls(int(text), int(text))
        match = _RANGE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an experiment ID or an inclusive range like '10-20'")
        first, last = int(match[1]), int(match[2])
        if first > last:
            raise ValueError(f"range {text!r} is empty: {first} > {last}")
        return cls(first, last)

    def __contains__(self, number: int) -> bool:
        return self.first <= number <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def overlaps(labelled: Iterable[tuple[ExperimentRange, str]]) -> list[str]:
    """One line per pair of ranges that share an ID; `label` says where each range came from."""
    ordered = sorted(labelled)
    problems = []
    for i, (current, label) in enumerate(ordered):
        for later, other in ordered[i + 1 :]:
            if later.first > current.last:
                break
            problems.append(f"experiments {current} ({label}) and {later} ({other}) overlap")
    return problems
