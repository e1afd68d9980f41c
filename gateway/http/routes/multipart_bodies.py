"""The JSON bodies of MLflow's `mpu/create|complete|abort` requests, validated by pydantic."""

from __future__ import annotations

import ntpath
import urllib.parse
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway import paths
from gateway.errors import InvalidParameter
from gateway.http.bodies import read_within
from gateway.stores.capabilities import MAX_PARTS, PartList

# The largest legal body is `complete` with 10,000 parts: about 40 bytes of JSON per part plus
# its ETag (at most ETAG_LIMIT; S3's and ours are 34), 1.7 MB, beside `path` and `upload_id`.
ETAG_LIMIT = 128
PATH_LIMIT = 4096  # the client's local file name: Linux's PATH_MAX
BODY_LIMIT = 2 * 1024 * 1024

Body = TypeVar("Body", bound=BaseModel)


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer clients may send more

    path: str = Field(
        max_length=PATH_LIMIT, description="the file's name (before 3.18: the client's local path)"
    )


class CreateRequest(_Request):
    num_parts: int = Field(ge=0, le=MAX_PARTS, description="0 (an empty file) is one part")

    @property
    def parts(self) -> int:
        """3.18's client rule (`max(1, chunks)`): an empty file still needs one part, and
        `mlflow server`'s zero part URLs would leave an upload that no `complete` can finish."""
        return max(1, self.num_parts)


class _UploadRequest(_Request):
    upload_id: str = Field(min_length=1, max_length=1024, pattern=r"^[\x21-\x7e]+$")


class AbortRequest(_UploadRequest):
    pass


class Part(BaseModel):
    model_config = ConfigDict(extra="ignore")

    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str | None = Field(None, max_length=ETAG_LIMIT)


class CompleteRequest(_UploadRequest):
    parts: list[Part] = Field(max_length=MAX_PARTS)


def _too_large(size: int) -> web.HTTPRequestEntityTooLarge:
    reason = f"The request body exceeds {BODY_LIMIT} bytes"
    return web.HTTPRequestEntityTooLarge(BODY_LIMIT, size, reason=reason)


async def read_body(request: web.Request, model: type[Body]) -> Body:
    """Refused by its Content-Length before a byte is read, else read only up to the limit."""
    data = await read_within(request, BODY_LIMIT, _too_large)
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_input=False)[:5]
        )
        raise InvalidParameter(f"Invalid request body: {problems}") from exc


def file_name(local_file: str) -> str:
    """3.18's `_get_multipart_upload_file_name`: the base name on `/` and `\\`, again after
    percent-decoding (an encoded separator), and `""`, `.` and `..` refused as MLflow does."""
    name = ntpath.basename(local_file)
    if name:
        name = ntpath.basename(urllib.parse.unquote(name))
    if name in ("", ".", ".."):
        raise InvalidParameter("Invalid path")
    return name


def target_path(directory: str, local_file: str) -> str:
    """MLflow stores the upload at `<URL path>/<name of the client's file>`."""
    name = file_name(local_file)
    return paths.normalize(f"{directory}/{name}" if directory else name, allow_empty=False)


def ordered_parts(parts: list[Part], stored: PartList, etag_optional: bool = False) -> PartList:
    """The parts to join, checked against what was stored: all of them, each ETag right.

    `etag_optional` (a store holding one part per number, whose presigned part PUT answers
    without an ETag): a part named without one is the one stored under its number."""
    etags: dict[int, set[str]] = {}
    for number, etag in stored:
        etags.setdefault(number, set()).add(_bare(etag))
    if etag_optional:
        parts = [
            Part(part_number=p.part_number, etag=p.etag or next(iter(etags[p.part_number])))
            if not p.etag and len(etags.get(p.part_number, ())) == 1
            else p
            for p in parts
        ]
    numbers = sorted(part.part_number for part in parts)
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise InvalidParameter(
            "'parts' must list parts 1 to N, each once, without gaps; got "
            f"{_few(numbers) or 'none'}"
        )
    if no_etag := [part.part_number for part in parts if not part.etag]:
        raise InvalidParameter(f"Parts without an ETag: {_few(no_etag)}")
    if missing := [n for n in numbers if n not in etags]:
        raise InvalidParameter(f"Parts never uploaded: {_few(missing)}")
    if unlisted := sorted(set(etags) - set(numbers)):
        raise InvalidParameter(f"Uploaded parts missing from 'parts': {_few(unlisted)}")
    if wrong := [p.part_number for p in parts if _bare(p.etag) not in etags[p.part_number]]:
        raise InvalidParameter(f"ETags that do not match the stored parts: parts {_few(wrong)}")
    return sorted((p.part_number, f'"{_bare(p.etag)}"') for p in parts)


def _bare(etag: str | None) -> str:
    return (etag or "").strip().removeprefix("W/").strip('"')


def _few(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:10]))
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
