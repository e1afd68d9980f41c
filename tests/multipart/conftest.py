"""Two gateway replicas per destination sharing one signing secret (tests/helpers/multipart.py
holds the wire calls)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.multipart import SECRET, Replicas, replica_args
from tests.helpers.stack import Gateway, clean_env, s3_env, start_gateway
from tests.helpers.storage import assert_no_pending_uploads


@pytest.fixture(scope="session", params=["local", "s3"])
def replicas(request, tmp_path_factory) -> Iterator[Replicas]:
    destination = request.param
    workdir = tmp_path_factory.mktemp(f"replicas-{destination}")
    env = clean_env(GATEWAY_MULTIPART__SIGNING_SECRET=SECRET)
    if destination == "s3":
        env.update(s3_env(request.getfixturevalue("seaweed").endpoint))
    args = replica_args(destination, str(workdir / "mlartifacts"))
    a_proc, a_url = start_gateway(workdir, args, env, name="a")
    try:
        b_proc, b_url = start_gateway(workdir, [*args, "--public-url", a_url], env, name="b")
    except BaseException:
        a_proc.stop()
        raise
    kind = {"prefix": "replicas"} if destination == "s3" else {"root": workdir / "mlartifacts"}
    try:
        yield Replicas(
            Gateway(a_proc, a_url, destination, **kind), Gateway(b_proc, b_url, destination, **kind)
        )
    finally:
        b_proc.stop()
        a_proc.stop()


@pytest.fixture(autouse=True)
def no_dangling_uploads(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test here that used SeaweedFS, it holds no multipart upload at all; a test
    that never asked for the stack (a pure config test) starts no server for this check."""
    yield
    assert_no_pending_uploads(request)
