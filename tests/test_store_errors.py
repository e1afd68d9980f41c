"""The store error vocabulary: local OSErrors translated like S3 refusals, answered and logged
once in `http/errors.py` with the destination name and the backend's code."""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.http.errors import store_answer
from gateway.stores import probe
from gateway.stores.errors import (
    CredentialsRefused,
    DestinationUnavailable,
    InvalidRequest,
    NotFound,
    StorageFull,
)
from gateway.stores.local import LocalStore


def _raise(code: int) -> None:
    raise OSError(code, errno.errorcode[code])


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (errno.ENOSPC, StorageFull),
        (errno.EDQUOT, StorageFull),
        (errno.EFBIG, StorageFull),
        (errno.EACCES, CredentialsRefused),
        (errno.EROFS, CredentialsRefused),
        (errno.EIO, DestinationUnavailable),
    ],
)
def test_local_oserrors_become_the_store_vocabulary(tmp_path, code, kind):
    store = LocalStore(str(tmp_path), 65536, name="archive")
    with pytest.raises(kind) as raised:
        asyncio.run(store._call(_raise, code))
    assert raised.value.destination == "archive"
    assert raised.value.code == errno.errorcode[code]
    assert isinstance(raised.value.__cause__, OSError)  # the cause is kept


@pytest.mark.parametrize(
    ("error", "status", "error_code"),
    [
        (
            NotFound("No such file", destination="d", code="NoSuchKey"),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (StorageFull("full", destination="d", code="ENOSPC"), 507, "RESOURCE_EXHAUSTED"),
        (CredentialsRefused("refused", destination="d", code="AccessDenied"), 503, None),
        (DestinationUnavailable("down", destination="d", code="ConnectError"), 503, None),
    ],
)
def test_each_kind_has_one_answer_and_one_log_line(caplog, error, status, error_code):
    request = make_mocked_request("GET", "/api/2.0/mlflow-artifacts/artifacts/1/x")
    with caplog.at_level(logging.DEBUG, logger="gateway.http.errors"):
        response = store_answer(request, error)
    assert response.status == status
    body = response.text
    assert (error_code or "TEMPORARILY_UNAVAILABLE") in body and error.message in body
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.http.errors"]
    assert len(lines) == 1 and "destination d" in lines[0] and error.code in lines[0]
    assert caplog.records[-1].levelno == (logging.WARNING if status >= 500 else logging.DEBUG)


def test_the_local_probe_reports_a_missing_root(tmp_path):
    root = tmp_path / "root"
    store = LocalStore(str(root), 65536, name="archive")
    asyncio.run(store.start())
    assert asyncio.run(probe(store)) is None
    shutil.rmtree(root)
    problem = asyncio.run(probe(store))
    assert isinstance(problem, DestinationUnavailable) and problem.destination == "archive"


class _Body:
    """A ByteSource of a few bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data


def test_a_file_name_too_long_is_the_clients_400_naming_no_root(tmp_path):
    """Review finding 9: ENAMETOOLONG was a 503 "Destination <root> failed"."""
    store = LocalStore(str(tmp_path), 65536, name="archive")
    asyncio.run(store.start())
    with pytest.raises(InvalidRequest) as raised:
        asyncio.run(store.write(f"1/run/artifacts/{'n' * 300}.txt", _Body(b"hello")))
    response = store_answer(make_mocked_request("PUT", "/x"), raised.value)
    assert response.status == 400 and str(tmp_path) not in response.text
    assert raised.value.code == "ENAMETOOLONG"


def test_an_s3_key_too_long_is_the_clients_400_naming_no_root():
    """Review finding 9: S3's KeyTooLongError was a 503 naming the bucket and prefix."""
    from botocore.exceptions import ClientError

    from gateway.config import load_settings
    from gateway.stores import create_store, default_options

    settings = load_settings(["--artifacts-destination", "s3://secret-bucket/p"])
    store = create_store(default_options(settings.artifacts_destination), settings)
    refusal = ClientError({"Error": {"Code": "KeyTooLongError", "Message": "Too long"}}, "Put")
    error = store._refusal(refusal, "1/run/artifacts/x")
    response = store_answer(make_mocked_request("PUT", "/x"), error)
    assert response.status == 400 and "secret-bucket" not in response.text
