"""ListObjectsV2 pages -> a directory's entries in name order, batch by batch, as pages arrive.

S3 returns keys in byte order, where `model.pkl` comes before the directory `model/`; MLflow's
listing is sorted by name, where `model` comes first. So an entry waits only while a later page
could still bring a directory whose name sorts before it; everything else goes out at once, and
a directory of 100,000 entries is never held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.stores.base import Entry


def _first_possible(last: str) -> str:
    """The smallest name a page after the relative key `last` can still bring.

    A later directory `p/` sorts after `last` yet `p` sorts before it only when `p` is a prefix
    of `last` followed by a character below '/'; a later file or directory named `last` itself
    is possible too (a file `d`, then the directory `d/`: the directory wins, as it always did).
    """
    for i in range(1, len(last)):
        if last[i] < "/":
            return last[:i]
    return last


async def ordered_entries(pages: AsyncIterator[dict], prefix: str) -> AsyncIterator[list[Entry]]:
    """The children of `prefix` (listed with Delimiter='/'), sorted, in batches."""
    held: dict[str, Entry] = {}
    async for page in pages:
        last = ""
        for common in page.get("CommonPrefixes", []):
            key = common["Prefix"][len(prefix) :]
            last = max(last, key)
            if name := key.rstrip("/"):
                held[name] = Entry(name, True)
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) :]
            last = max(last, name)
            if name and not name.endswith("/"):
                held.setdefault(name, Entry(name, False, obj["Size"]))
        if last:
            limit = _first_possible(last)
            ready = sorted(name for name in held if name < limit)
            yield [held.pop(name) for name in ready]
    yield [held[name] for name in sorted(held)]
