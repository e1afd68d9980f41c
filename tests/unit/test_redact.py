"""gateway/redact.py: a registered secret, an Authorization value or a URL signature never
survives into text or a log record, whatever shape it is written in."""

from __future__ import annotations

import io
import logging

import pytest

from gateway import redact as redact_module
from gateway.redact import RedactingFilter, redact, register

KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers its own secrets; the process-wide set is left as it was."""
    monkeypatch.setattr(redact_module, "_secrets", set())


def test_a_registered_secret_is_masked_wherever_it_appears():
    register(KEY)
    text = f"key={KEY} url=s3://b/{KEY}/x {{'secret': '{KEY}'}}"
    assert redact(text) == "key=*** url=s3://b/***/x {'secret': '***'}"


def test_the_longer_secret_is_masked_first_so_no_tail_is_left():
    register("hunter2", "hunter2-and-more")
    assert redact("a hunter2-and-more b hunter2") == "a *** b ***"


def test_short_and_empty_values_are_not_registered():
    register(None, "", "abc")
    assert redact("abc and a b c") == "abc and a b c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic YWxpY2U6cGFzcw==", "Authorization: ***"),
        ("authorization=Bearer tok-123", "authorization=***"),
        ("Proxy-Authorization: Basic Ym9iOng=", "Proxy-Authorization: ***"),
        (
            "{'Authorization': 'AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abc', 'X': '1'}",
            "{'Authorization': '***', 'X': '1'}",
        ),
        (
            "{b'Authorization': b'AWS4-HMAC-SHA256 Signature=abc'}",
            "{b'Authorization': b'***'}",
        ),
        ("('Authorization', 'Bearer tok-123')", "('Authorization', '***')"),
    ],
)
def test_authorization_values_go_and_the_name_stays(text, expected):
    redacted = redact(text)
    assert redacted == expected
    assert redact(redacted) == redacted  # a second pass (a second filtered handler) keeps it
    for credential in ("YWxpY2U6cGFzcw", "tok-123", "Ym9iOng", "Signature=abc"):
        assert credential not in redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/signed/a?expires=1&signature=9f8e7d", "/signed/a?expires=1&signature=***"),
        (
            "GET https://s3/b/k?X-Amz-Signature=abcdef&X-Amz-Security-Token=FQoG%2Fz HTTP/1.1",
            "GET https://s3/b/k?X-Amz-Signature=***&X-Amz-Security-Token=*** HTTP/1.1",
        ),
        ('"x-amz-signature=abc"', '"x-amz-signature=***"'),
    ],
)
def test_url_signatures_are_masked(text, expected):
    assert redact(text) == expected


def test_the_log_filter_masks_arguments_and_tracebacks_before_any_handler_formats():
    register(KEY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.unit.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("using %s with Authorization: Bearer %s", KEY, "tok-9")
        try:
            raise RuntimeError(f"signing with {KEY} failed")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    logged = stream.getvalue()
    assert KEY not in logged and "tok-9" not in logged
    assert "using *** with Authorization: ***" in logged
    assert "RuntimeError: signing with *** failed" in logged  # the traceback stays, masked


def test_the_filter_leaves_a_record_that_formats_to_its_masked_message():
    register(KEY)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (KEY,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "key ***" and record.args == ()


def test_botocores_signer_debug_lines_lose_their_signature(capsys, monkeypatch):
    """Review finding 5: at debug, botocore's signer logged "Signature:\\n<hex>" for each
    request, the gateway's own presigned GETs included; with the key id that rebuilt the URL."""
    import urllib.parse

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from gateway.logs import configure_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    configure_logging("debug")
    request = AWSRequest(method="GET", url="http://127.0.0.1:9/bucket/1/x.bin")
    credentials = Credentials("AKIDEXAMPLE", KEY)
    S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=300).add_auth(request)
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
    signature = signature["X-Amz-Signature"][0]
    logged = capsys.readouterr().err
    assert "Signature:" in logged  # botocore did log its signer lines
    assert signature not in logged
