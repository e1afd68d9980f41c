"""botocore's data files, loaded once per process and held as compactly as botocore allows.

Every S3 destination's session shares one loader, so the S3 model and endpoint rules are parsed
and held once. The loader reads JSON into plain dicts instead of botocore's `OrderedDict`s
(ordered anyway since Python 3.7, at about half the memory), and keeps only the services a
gateway's clients can use out of `endpoints.json`, the table of every AWS service in every
region: together 6.7 MiB of the idle footprint with one destination.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from aiobotocore.session import AioSession
from botocore.loaders import JSONFileLoader, Loader

# What the gateway creates clients for (s3), and what botocore's credential providers may
# create a client for on a destination's behalf (assume-role and web identity: sts; SSO: sso,
# sso-oidc; `aws login`: signin). A service missing from the table would still resolve, from its
# partition's hostname template, as botocore resolves a service it does not know.
KEPT_SERVICES = frozenset({"s3", "sts", "sso", "sso-oidc", "signin"})
_ENDPOINTS = "endpoints.json"


def prune_endpoints(data: dict[str, Any]) -> dict[str, Any]:
    """`endpoints.json` with only `KEPT_SERVICES` in each partition."""
    for partition in data.get("partitions", []):
        services = partition.get("services", {})
        partition["services"] = {k: v for k, v in services.items() if k in KEPT_SERVICES}
    return data


class CompactFileLoader(JSONFileLoader):
    """botocore's JSON file loader, building plain dicts and pruning the endpoint table."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            data = json.loads(fp.read().decode("utf-8"))
        name = os.path.basename(full_path)
        if name == _ENDPOINTS or name == _ENDPOINTS + ".gz":
            data = prune_endpoints(data)
        return data


_LOADER: Loader | None = None


def session(profile: str | None) -> AioSession:
    """A session per destination (its own credentials), all sharing the one compact loader."""
    global _LOADER
    created = AioSession(profile=profile)
    if _LOADER is None:
        _LOADER = created.get_component("data_loader")
        _LOADER.file_loader = CompactFileLoader()  # same search paths, compact results
    else:
        created.register_component("data_loader", _LOADER)
    return created
