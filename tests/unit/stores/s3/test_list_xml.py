"""ListObjectsV2 documents parsed for the raw path, in botocore's page shape."""

from __future__ import annotations

import pytest

from gateway.stores.s3.list_xml import parse_page

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _doc(body: str, encoding: str = "url") -> bytes:
    kind = f"<EncodingType>{encoding}</EncodingType>" if encoding else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}">'
        f"<Name>b</Name><Prefix>p%2F</Prefix>{kind}{body}</ListBucketResult>"
    ).encode()


def test_keys_and_prefixes_are_decoded_as_botocore_decodes_them() -> None:
    page = parse_page(
        _doc(
            "<IsTruncated>true</IsTruncated><NextContinuationToken>t/+=</NextContinuationToken>"
            "<Contents><Key>p/a+b%2Bc%C3%BC</Key><LastModified>2026-01-01T00:00:00.000Z"
            "</LastModified><Size>42</Size></Contents>"
            "<CommonPrefixes><Prefix>p/d%20e/</Prefix></CommonPrefixes>"
        )
    )
    assert page == {
        "Contents": [{"Key": "p/a b+cü", "Size": 42}],  # unquote_plus, as botocore
        "CommonPrefixes": [{"Prefix": "p/d e/"}],
        "IsTruncated": True,
        "NextContinuationToken": "t/+=",  # a token is opaque: never decoded
    }


def test_without_encoding_type_keys_are_taken_as_they_are() -> None:
    page = parse_page(_doc("<Contents><Key>p/a+b%20</Key><Size>1</Size></Contents>", ""))
    assert page is not None and page["Contents"] == [{"Key": "p/a+b%20", "Size": 1}]
    assert page["IsTruncated"] is False and "NextContinuationToken" not in page


@pytest.mark.parametrize(
    "document",
    [
        b"<Error><Code>AccessDenied</Code></Error>",
        b"not xml <",
        _doc("<Contents><Key>k</Key><Size>big</Size></Contents>"),
        _doc("<Contents><Key>k</Key></Contents>"),
        _doc("<IsTruncated>true</IsTruncated>"),  # truncated, nothing to continue with
    ],
)
def test_anything_unexpected_is_left_to_botocore(document: bytes) -> None:
    assert parse_page(document) is None
