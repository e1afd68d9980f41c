"""gateway/experiments.py: only canonical experiment IDs match numbered rules."""

from __future__ import annotations

import pytest

from gateway.experiments import ExperimentRange, experiment_number, overlaps


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("7", 7),
        ("123456789012345678", 123456789012345678),  # 18 digits: MLflow's int64 IDs fit
        ("007", None),  # another spelling of 7 must not reach 7's rule
        ("-1", None),
        ("+7", None),
        (" 7", None),
        ("7 ", None),
        ("1e3", None),
        ("\u0667", None),  # Arabic-Indic seven: int() accepts it, the rule's owner did not write it
        ("1234567890123456789", None),  # 19 digits
        ("", None),
        ("*", None),
    ],
)
def test_only_canonical_decimal_ids_are_numbers(text, number):
    assert experiment_number(text) == number


@pytest.mark.parametrize(
    ("text", "first", "last", "shown"),
    [
        ("7", 7, 7, "7"),
        (" 10-20 ", 10, 20, "10-20"),
        ("10 - 20", 10, 20, "10-20"),
        ("0-0", 0, 0, "0"),
    ],
)
def test_ranges_parse_inclusively(text, first, last, shown):
    rng = ExperimentRange.parse(text)
    assert (rng.first, rng.last, str(rng)) == (first, last, shown)
    assert first in rng and last in rng and first - 1 not in rng and last + 1 not in rng


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("20-10", "is empty: 20 > 10"),
        ("07", "is not an experiment ID"),
        ("1-", "is not an experiment ID"),
        ("a-b", "is not an experiment ID"),
        ("1-2-3", "is not an experiment ID"),
        ("*", "is not an experiment ID"),
    ],
)
def test_bad_ranges_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        ExperimentRange.parse(text)


def test_overlaps_name_each_pair_with_where_it_came_from():
    labelled = [
        (ExperimentRange.parse("1-10"), "routes[0]"),
        (ExperimentRange.parse("30"), "routes[2]"),
        (ExperimentRange.parse("10-12"), "routes[1]"),
        (ExperimentRange.parse("5"), "routes[3]"),
    ]
    assert overlaps(labelled) == [
        "experiments 1-10 (routes[0]) and 5 (routes[3]) overlap",
        "experiments 1-10 (routes[0]) and 10-12 (routes[1]) overlap",
    ]
    assert overlaps([(ExperimentRange(1, 4), "a"), (ExperimentRange(5, 9), "b")]) == []
