"""URLs the gateway hands out that point back at itself, under its external base URL."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from gateway.errors import InvalidParameter
from gateway.forwarded import client_host, client_scheme
from gateway.links.signing import Signer

API = "/api/2.0"
PART_ROUTE = "/mlflow-artifacts/mpu/part"
DOWNLOAD_ROUTE = "/mlflow-artifacts/signed"
_HOST = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$")


def external_base(request: web.Request, configured: str | None) -> str:
    """`public_url` when configured, else the client's scheme and host: X-Forwarded-Proto/-Host
    from a trusted proxy, otherwise the connection's scheme and the (allowed) `Host`."""
    if configured:
        return configured
    scheme, host = client_scheme(request), client_host(request) or ""
    if scheme not in ("http", "https") or not _HOST.match(host):
        raise InvalidParameter(
            "Cannot build links from the request's Host / X-Forwarded-* headers; "
            "configure public_url"
        )
    return f"{scheme}://{host}"


@dataclass(frozen=True)
class Links:
    signer: Signer
    ttl: int
    public_url: str | None

    def base(self, request: web.Request) -> str:
        return external_base(request, self.public_url)

    def part_url(self, base: str, path: str, upload_id: str, part_number: int) -> str:
        """PUT target for one part: signs the upload id, part number, path and expiry."""
        signed = self.signer.query(("part", path, upload_id, part_number), self.ttl)
        query = {"upload_id": upload_id, "part_number": str(part_number), **signed}
        return _url(base, PART_ROUTE, path, query)

    def download_url(self, base: str, path: str) -> str:
        """Range-capable GET of one file: signs the path and expiry."""
        return _url(base, DOWNLOAD_ROUTE, path, self.signer.query(("download", path), self.ttl))


def _url(base: str, route: str, path: str, query: dict[str, str]) -> str:
    quoted = urllib.parse.quote(path, safe="/")
    return f"{base}{API}{route}/{quoted}?{urllib.parse.urlencode(query)}"


LINKS = web.AppKey("links", Links)
