"""Destinations whose locations coincide or nest: refused before anything listens.

A destination inside another is the same bytes under two routes, so a path routed to the outer
one reaches the inner one's objects under the outer one's permissions (issue 21's breach:
`s3://art/company` and `s3://art/company/restricted`). Locations compare within a scheme family:
local paths (after symlinks), S3 on the same endpoint, GCS, Azure (wasbs and abfss) on the same
account, HDFS on the same cluster.
"""

from __future__ import annotations

import itertools
import urllib.parse

from gateway.stores import ArtifactStore

_AZURE = ("wasbs", "abfss")


def location(store: ArtifactStore) -> tuple[str, str, tuple[str, ...]]:
    """(family, where the family is reached, path segments: bucket or container first)."""
    parsed = urllib.parse.urlsplit(store.uri)
    scheme = parsed.scheme.lower()
    if len(scheme) <= 1 or scheme == "file":  # a path, a Windows drive or file:
        root = getattr(store, "root", store.uri)  # LocalFiles.root: symlinks resolved
        return ("file", "", _segments(root.replace("\\", "/")))
    endpoint = (store.endpoint or "").lower().rstrip("/")
    if scheme == "s3":
        return ("s3", endpoint or "aws", (parsed.netloc, *_segments(parsed.path)))
    if scheme in _AZURE:
        container, _, host = parsed.netloc.partition("@")
        account = endpoint or host.split(".", 1)[0].lower()
        return ("azure", account, (container, *_segments(parsed.path)))
    if scheme == "gs":
        return ("gs", "", (parsed.netloc, *_segments(parsed.path)))
    return (scheme, parsed.netloc.lower(), _segments(parsed.path))  # hdfs, plug-ins


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part and part != ".")


def nesting_problems(stores: dict[str, ArtifactStore]) -> list[str]:
    """One line per pair of destinations whose locations coincide or one holds the other."""
    problems = []
    for (one, a), (other, b) in itertools.combinations(stores.items(), 2):
        (fa, wa, pa), (fb, wb, pb) = location(a), location(b)
        if fa != fb or wa != wb:
            continue
        shorter = min(len(pa), len(pb))
        if pa[:shorter] != pb[:shorter]:
            continue
        if len(pa) == len(pb):
            how = "is the same location as"
        elif len(pa) < len(pb):
            one, other, a, b = other, one, b, a
            how = "lies inside"
        else:
            how = "lies inside"
        problems.append(
            f"destinations.{one}: {a.uri} {how} destination {other!r} ({b.uri}); a destination "
            "must not coincide with or nest in another, or one route reaches the other's files"
        )
    return problems
