"""Schemathesis against a real gateway process, from the document it serves at `/openapi.json`.

The gateway runs on 127.0.0.1 with a local destination, once with auth off and once with auth on
(requests then carry the token of a user who may MANAGE experiment 7 only, so most generated
paths meet 403 and the refusals are fuzzed too). Every generated request
(valid and invalid paths, bodies, queries, headers) must get an answer that matches the
document, never a 5xx, and never a traceback in the body. `MAX_EXAMPLES` per operation keeps
the run to a minute or two on the shared 2-core machine.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.http.routes.openapi import DOCUMENT
from tests.helpers import guarded
from tests.helpers.stack import clean_env, start_gateway

MAX_EXAMPLES = 25
_TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "site-packages")


@schemathesis.check
def no_traceback(ctx: schemathesis.CheckContext, response: schemathesis.Response, case) -> None:
    """A body never shows the gateway's insides, whatever the status."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    for mark in _TRACEBACK_MARKS:
        if mark in text:
            raise AssertionError(f"the answer shows a traceback ({mark!r}): {text[:300]}")


@dataclass
class Fuzzed:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module", params=["auth-off", "auth-on"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "auth-on":
        with guarded.running(workdir, None) as gateway:
            yield Fuzzed(gateway.url, guarded.OWNER.headers())
        return
    root = workdir / "root"
    process, url = start_gateway(
        workdir, ["--artifacts-destination", str(root)], clean_env(), name="fuzzed"
    )
    try:
        yield Fuzzed(url, {})
    finally:
        process.stop()


def test_the_served_document_is_the_one_in_code(fuzzed: Fuzzed) -> None:
    served = requests.get(f"{fuzzed.url}/openapi.json", timeout=10)
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
def test_every_answer_matches_the_document(case, fuzzed: Fuzzed) -> None:
    case.call_and_validate(
        base_url=fuzzed.url,
        headers=fuzzed.headers,
        timeout=30,
        checks=[not_a_server_error, response_schema_conformance, no_traceback],
    )


def test_the_conformance_check_bites(fuzzed: Fuzzed) -> None:
    """The same check on a document that demands a field `/ready` lacks must fail."""
    wrong = copy.deepcopy(DOCUMENT)
    wrong["components"]["schemas"]["Ready"]["required"] = ["ready", "not-there"]
    case = schemathesis.openapi.from_dict(wrong)["/ready"]["GET"].Case()
    with pytest.raises(FailureGroup, match="violates schema"):
        case.call_and_validate(
            base_url=fuzzed.url, headers=fuzzed.headers, checks=[response_schema_conformance]
        )
