"""Write-once patterns per destination and per route (`stores/write_once.py`)."""

from __future__ import annotations

from gateway.config import load_settings
from gateway.routing.build import build_destinations
from gateway.stores.write_once import WriteOnce
from gateway.tenancy import Selector, SelectorMap
from tests.helpers.cli import write_config


def test_destination_patterns_and_prefixes() -> None:
    once = WriteOnce(["*/models/*", "registry/"])
    assert once.covers("3/models/m-1/artifacts/model.pkl")
    assert once.covers("registry/a/b.txt")
    assert not once.covers("3/runs/r/artifacts/model.pkl")
    assert not WriteOnce() and once


def test_a_route_holds_for_its_own_paths_and_the_most_specific_route_wins() -> None:
    routes = SelectorMap(
        [
            (Selector.parse("10-20"), ("*/models/*",)),
            (Selector.parse("prefix:15/"), ()),  # more specific, no patterns: writable
            (Selector.parse("prefix:frozen/"), ("frozen/",)),
        ],
        (),
    )
    once = WriteOnce([], routes)
    assert once
    assert once.covers("12/models/m/artifacts/MLmodel")
    assert not once.covers("12/runs/r/artifacts/MLmodel")
    assert not once.covers("15/models/m/artifacts/MLmodel")
    assert not once.covers("30/models/m/artifacts/MLmodel")  # another route's (or the default)
    assert once.covers("frozen/data.csv")


def test_routes_without_patterns_change_nothing() -> None:
    assert not WriteOnce([], SelectorMap([(Selector.parse("1"), ())], ()))


def test_route_patterns_reach_the_store_they_route_to(tmp_path) -> None:
    config = {
        "destinations": {"disk": {"uri": str(tmp_path / "a"), "write_once": ["registry/"]}},
        "routes": [
            {"experiments": ["1-9"], "destination": "disk", "write_once": ["*/models/*"]},
            {"experiments": ["10"], "destination": "default", "write_once": ["10/frozen/"]},
        ],
        "default_destination": "disk",
    }
    settings = load_settings(
        [
            "--config",
            str(write_config(tmp_path, config)),
            "--artifacts-destination",
            str(tmp_path / "b"),
        ]
    )
    stores = build_destinations(settings).stores
    disk, implicit = stores["disk"].write_once, stores["default"].write_once
    assert disk.covers("3/models/m/artifacts/MLmodel") and disk.covers("registry/x")
    assert not disk.covers("30/models/m/artifacts/MLmodel")  # the default route: no patterns
    assert implicit.covers("10/frozen/x") and not implicit.covers("10/models/m/x")
