"""Schemathesis against a real gateway process, from the document it serves at `/openapi.json`.

The gateway runs on 127.0.0.1 with a local destination and auth off. Every generated request
(valid and invalid paths, bodies, queries, headers) must get an answer that matches the
document, never a 5xx, and never a traceback in the body. `MAX_EXAMPLES` per operation keeps
the run to a minute or two on the shared 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.http.routes.openapi import DOCUMENT
from tests.conftest import clean_env, start_gateway

MAX_EXAMPLES = 25
_TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "site-packages")


@schemathesis.check
def no_traceback(ctx: schemathesis.CheckContext, response: schemathesis.Response, case) -> None:
    """A body never shows the gateway's insides, whatever the status."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    for mark in _TRACEBACK_MARKS:
        if mark in text:
            raise AssertionError(f"the answer shows a traceback ({mark!r}): {text[:300]}")


@pytest.fixture(scope="module")
def fuzzed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("fuzz")
    root = workdir / "root"
    process, url = start_gateway(
        workdir, ["--artifacts-destination", str(root)], clean_env(), name="fuzzed"
    )
    try:
        yield url
    finally:
        process.stop()


def test_the_served_document_is_the_one_in_code(fuzzed_gateway: str) -> None:
    served = requests.get(f"{fuzzed_gateway}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    assert served.json()["openapi"].startswith("3.")


# The document in code, which the first test shows is the one served (schemathesis' lazy
# fixture loader does not run under this pytest).
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document(case, fuzzed_gateway: str) -> None:
    case.call_and_validate(
        base_url=fuzzed_gateway,
        timeout=30,
        checks=[not_a_server_error, response_schema_conformance, no_traceback],
    )
