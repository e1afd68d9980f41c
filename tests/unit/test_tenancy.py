"""gateway/tenancy.py: MLflow's workspace scoping, the tenancy key, selectors and precedence."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidParameter
from gateway.tenancy import (
    Selector,
    SelectorMap,
    TenancyKey,
    conflicts,
    key_of,
    scoped_path,
    validate_workspace,
)


@pytest.mark.parametrize(
    ("path", "workspace", "stored"),
    [
        ("1/r/artifacts/a", None, "1/r/artifacts/a"),  # workspaces off: stored as sent
        ("workspaces/x/1/a", None, "workspaces/x/1/a"),
        ("1/r/artifacts/a", "default", "1/r/artifacts/a"),  # legacy root layout
        ("", "default", ""),
        ("workspaces/default/1", "default", "workspaces/default/1"),
        ("1/r/artifacts/a", "team-a", "workspaces/team-a/1/r/artifacts/a"),
        ("", "team-a", "workspaces/team-a"),
        ("workspaces/team-a/1/a", "team-a", "workspaces/team-a/1/a"),  # already scoped
        ("workspacesx/1", "team-a", "workspaces/team-a/workspacesx/1"),
    ],
)
def test_scoping_is_mlflows(path, workspace, stored):
    assert scoped_path(path, workspace) == stored


@pytest.mark.parametrize(
    ("path", "workspace", "message"),
    [
        (
            "workspaces/team-b/1/a",
            "team-a",
            "Artifact path targets workspace 'team-b' but the workspace specified in the "
            "request is 'team-a'.",
        ),
        (
            "workspaces/team-b/1/a",
            "default",
            "Artifact path targets workspace 'team-b' but the workspace specified in the "
            "request is 'default'.",
        ),
        ("workspaces", "team-a", "Artifact paths prefixed with 'workspaces/' must include"),
        # 3.18's case-insensitive reserved segment (3.17.2 let the default workspace through)
        (
            "WORKSPACES/team-b/1",
            "default",
            "Artifact path targets workspace 'team-b' but the workspace specified in the "
            "request is 'default'.",
        ),
    ],
)
def test_scoping_refuses_as_mlflow_does(path, workspace, message):
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(")):
        scoped_path(path, workspace)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "must be between 2 and 63 characters"),
        ("x" * 64, "must be between 2 and 63 characters"),
        ("Team", "must match the pattern"),
        ("team.a", "must match the pattern"),
        ("..", "must match the pattern"),
        ("-ab", "must match the pattern"),
        ("api", "is reserved and cannot be used"),
        ("workspaces", "is reserved and cannot be used"),
    ],
)
def test_workspace_names_follow_mlflows_validator(name, message):
    with pytest.raises(InvalidParameter, match=message):
        validate_workspace(name)
    assert validate_workspace("default") == "default"
    assert validate_workspace("team-a") == "team-a"


@pytest.mark.parametrize(
    ("stored", "key"),
    [
        ("", ("default", "", "")),
        ("7", ("default", "7", "")),
        ("7/r/artifacts/a.txt", ("default", "7", "r/artifacts/a.txt")),
        ("team-x/models/m", ("default", "team-x", "models/m")),
        ("workspaces/team-a", ("team-a", "", "")),
        ("workspaces/team-a/7/r/a", ("team-a", "7", "r/a")),
        ("workspaces/default/7", ("default", "7", "")),
        # not a workspace MLflow could name: the legacy layout's first segment, '*' only
        ("workspaces", ("default", "workspaces", "")),
        ("workspaces/Bad_Name/7", ("default", "workspaces", "Bad_Name/7")),
        ("workspaces/api/7", ("default", "workspaces", "api/7")),
        ("WORKSPACES/Team-A/7/r", ("team-a", "7", "r")),  # one tenant on a case-folding disk
    ],
)
def test_the_key_comes_from_the_stored_path(stored, key):
    assert key_of(stored) == TenancyKey(*key, stored)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("7", "7"),
        (" 10 - 20 ", "10-20"),
        ("prefix:team-x/", "prefix:team-x/"),
        ("prefix:/team-x/sub", "prefix:team-x/sub/"),
        ("workspace:team-a", "workspace:team-a"),
        ("workspace:team-a:7", "workspace:team-a:7"),
        ("workspace:team-a:prefix:team-x/", "workspace:team-a:prefix:team-x/"),
    ],
)
def test_selectors_parse_and_print_the_same_syntax(text, shown):
    assert str(Selector.parse(text)) == shown
    assert Selector.parse(shown) == Selector.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "007",
        "prefix:",
        "prefix:a/../b",
        "prefix:workspaces/x",
        "workspace:",
        "workspace:Team",
        "workspace:api",
        "workspace:team-a:prefix:",
        "team-x",
    ],
)
def test_bad_selectors_are_refused(text):
    with pytest.raises(ValueError):
        Selector.parse(text)


def test_the_most_specific_selector_wins():
    table = SelectorMap(
        [
            (Selector.parse(text), text)
            for text in (
                "workspace:team-a",
                "7",
                "prefix:team-x/",
                "prefix:team-x/secret/",
                "workspace:team-a:7",
                "workspace:team-a:prefix:team-x/",
            )
        ],
        "*",
    )
    expected = {
        "7/r/a": "7",
        "8/r/a": "*",
        "007/r": "*",  # only canonical IDs match a numbered selector
        "team-x/a": "prefix:team-x/",
        "team-x": "prefix:team-x/",
        "team-xy/a": "*",  # whole segments only
        "TEAM-X/a": "prefix:team-x/",  # case-insensitively, as a case-folding disk serves it
        "team-x/secret/a": "prefix:team-x/secret/",
        "workspaces/team-a/8/r": "workspace:team-a",
        "workspaces/team-a/7/r": "workspace:team-a:7",
        "workspaces/team-a/team-x/a": "workspace:team-a:prefix:team-x/",
        "workspaces/team-a/team-x/secret/a": "workspace:team-a:prefix:team-x/",
        "workspaces/team-b/7/r": "7",  # experiment IDs are global in MLflow
        "workspaces/team-b/8/r": "*",
        "workspaces/team-b/team-x/secret": "prefix:team-x/secret/",
        "workspaces": "*",
    }
    assert {path: table.get(key_of(path)) for path in expected} == expected


def test_conflicts_are_pairs_of_equally_specific_selectors_that_share_a_path():
    labelled = [
        (Selector.parse(text), f"r{i}")
        for i, text in enumerate(
            [
                "1-10",
                "5",
                "workspace:a1:5",  # another tier: no conflict with '5'
                "workspace:a1:3-6",
                "prefix:t/",
                "prefix:t/",
                "prefix:t/u",  # nested prefixes: the longer wins, no conflict
                "workspace:a1",
                "workspace:a1",
            ]
        )
    ]
    assert conflicts(labelled) == [
        "experiments 1-10 (r0) and 5 (r1) overlap",
        "experiments 3-6 (r3) and 5 (r2) overlap in workspace 'a1'",
        "prefix:t/ (r4) and (r5) name the same paths",
        "workspace:a1 (r7) and (r8) name the same paths",
    ]
