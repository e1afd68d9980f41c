"""ListObjectsV2 answers parsed here for the raw path, as botocore's parser would, on only the
fields the listing uses (`listing.ordered_entries`): keys, sizes, common prefixes and the
continuation. botocore's parser also reads every `LastModified` with dateutil and builds the
whole shape (docs/performance.md, "Request rate").

Keys are requested with `encoding-type=url` (an XML 1.0 document cannot hold every key byte)
and decoded as botocore's `decode_list_object_v2` handler does (`urllib.parse.unquote_plus`),
only when the answer says it used that encoding.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_PAGE = 8 * 1024 * 1024  # 1,000 keys of 1,024 bytes, URL-encoded, with their fields
MAX_PAGES = 1_000_000  # pages of one listing on the raw path (a billion keys); then botocore's


def parse_page(document: bytes) -> dict | None:
    """One page in botocore's shape (`Contents[].Key/Size`, `CommonPrefixes[].Prefix`,
    `IsTruncated`, `NextContinuationToken`); None for anything but a ListBucketResult."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return None
    if root.tag != f"{NS}ListBucketResult":
        return None
    encoded = (root.findtext(f"{NS}EncodingType") or "").lower() == "url"

    def decoded(text: str | None) -> str:
        text = text or ""
        return urllib.parse.unquote_plus(text) if encoded else text

    try:
        contents = [
            {"Key": decoded(item.findtext(f"{NS}Key")), "Size": int(item.findtext(f"{NS}Size"))}
            for item in root.iterfind(f"{NS}Contents")
        ]
    except (TypeError, ValueError):
        return None
    prefixes = [
        {"Prefix": decoded(item.findtext(f"{NS}Prefix"))}
        for item in root.iterfind(f"{NS}CommonPrefixes")
    ]
    page: dict = {"Contents": contents, "CommonPrefixes": prefixes}
    page["IsTruncated"] = (root.findtext(f"{NS}IsTruncated") or "").lower() == "true"
    if token := root.findtext(f"{NS}NextContinuationToken"):
        page["NextContinuationToken"] = token
    if page["IsTruncated"] and "NextContinuationToken" not in page:
        return None  # nothing to continue with: botocore's paginator decides then
    return page
