"""gateway.stores.registry: a taken scheme is refused unless clobbered, the view is read-only,
and a scheme's module loads on first use. (Plug-ins through real entry points, in a gateway
process: tests/test_store_registry.py.)"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from gateway.stores import (
    ENTRY_POINT_GROUP,
    DestinationOptions,
    InvalidDestination,
    SchemeTaken,
    StoreType,
    register,
    registered,
    store_types,
)
from gateway.stores.registry import store_type_for, unregister


def store_type(*schemes: str) -> StoreType:
    return StoreType(schemes=schemes, options=DestinationOptions, create=lambda o, s: None)


def test_a_built_in_scheme_is_not_overwritten_unless_clobbered():
    before = store_types()["s3"]
    # described as "module:attribute" until first use loads it, by its module after (an earlier
    # test in this process may have created an S3 store)
    taken = r"'s3' is (gateway\.stores\.s3:STORE_TYPE|the store type of gateway\.stores\.s3);"
    with pytest.raises(SchemeTaken, match=taken + ".*clobber=True"):
        register(store_type("s3"))
    assert store_types()["s3"] is before
    mine = store_type("s3")
    with registered(mine, clobber=True):
        assert store_type_for("s3://b/p") is mine
    assert store_types()["s3"] is before  # what it replaced is back


def test_registering_is_all_or_nothing_and_repeatable():
    toy = store_type("toy-a")
    with registered(toy):
        register(toy)  # the same type again: nothing to refuse
        with pytest.raises(SchemeTaken, match="'toy-a' is the store type of"):
            register(store_type("toy-b", "toy-a"))
        assert "toy-b" not in store_types()
    assert "toy-a" not in store_types()


def test_unregistering_a_clobbering_type_gives_a_built_in_scheme_back():
    mine = store_type("hdfs")
    register(mine, clobber=True)
    unregister(mine)
    assert store_types()["hdfs"] == EntryPoint(
        "hdfs", "gateway.stores.arrow.hdfs:STORE_TYPE", ENTRY_POINT_GROUP
    )


def test_the_view_is_read_only_and_live():
    view = store_types()
    with pytest.raises(TypeError):
        view["toy"] = store_type("toy")  # type: ignore[index]
    toy = store_type("toy")
    with registered(toy):
        assert view["toy"] is toy


def test_a_scheme_holds_its_store_type_once_used():
    found = store_type_for("wasbs://container@account.blob.core.windows.net/prefix")
    assert "abfss" in found.schemes and store_types()["wasbs"] is found


def test_an_unknown_scheme_names_the_known_ones():
    with pytest.raises(InvalidDestination, match=r"'toy://box': use .*s3://.* or a local path"):
        store_type_for("toy://box")
