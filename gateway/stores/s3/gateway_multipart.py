"""The gateway cuts one upload body into S3 parts: a bounded number in flight, aborted on any
failure. (Client-driven multipart uploads are in client_multipart.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any

from gateway.stores import budget
from gateway.stores.base import ByteSource
from gateway.stores.body_reads import arrived
from gateway.stores.budget import Grant
from gateway.stores.capabilities import MAX_PARTS
from gateway.stores.errors import InvalidRequest
from gateway.stores.s3.body import PiecesBody, read_part

log = logging.getLogger(__name__)

_MIB = 1024 * 1024


def part_size_for(configured: int, size_hint: int | None) -> int:
    """Large declared bodies get larger parts so they fit in S3's 10,000-part limit."""
    if not size_hint:
        return configured
    needed = math.ceil(size_hint / (MAX_PARTS - 1))
    return max(configured, math.ceil(needed / _MIB) * _MIB)


class MultipartWriter:
    """Memory stays near part_size * (concurrency + 1) whatever the body's length."""

    def __init__(
        self, client: Any, bucket: str, key: str, part_size: int, concurrency: int
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.concurrency = concurrency
        self.budget = budget.current()
        # The destination's upload policy: CreateMultipartUpload's, and what each part repeats.
        self.policy: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self.size = 0  # bytes stored, once `upload` returns
        self.write_once = False  # complete only if nothing is there (If-None-Match: *)

    async def upload(
        self, first: PiecesBody, grant: Grant, body: ByteSource, content_type: str
    ) -> None:
        """Stores `first` and the rest of `body`; `grant` (the budget `first` holds) is ours."""
        created = await self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ContentType=content_type, **self.policy[0]
        )
        upload_id = created["UploadId"]
        try:
            parts = await self._send_parts(upload_id, first, grant, body)
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **({"IfNoneMatch": "*"} if self.write_once else {}),
            )
        except BaseException:
            await _shielded(self._abort(upload_id))
            raise

    async def _send_parts(
        self, upload_id: str, first: PiecesBody, first_grant: Grant, body: ByteSource
    ) -> list[dict]:
        """Reserves each part's bytes before reading them from the client (backpressure) and
        returns them when its UploadPart ends; parts already in flight never wait on the budget."""
        parts: list[dict] = []
        pending: set[asyncio.Task] = set()
        block, number = first, 0
        grant: Grant | None = first_grant  # what the block being read or queued holds
        try:
            while len(block):
                number += 1
                if number > MAX_PARTS:
                    raise InvalidRequest(
                        f"The upload exceeds {MAX_PARTS} parts of {self.part_size} bytes: "
                        "send Content-Length, or raise s3.part_size"
                    )
                while len(pending) >= self.concurrency:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    parts.extend(task.result() for task in done)
                task = asyncio.create_task(self._part(upload_id, number, block))
                task.add_done_callback(_returns(block, grant))
                pending.add(task)
                grant = None  # the task's now
                body = await arrived(body)  # a client that stops sending holds no next part
                grant = await self.budget.reserve(self.part_size)
                block = await read_part(body, self.part_size)
            parts.extend(await asyncio.gather(*pending))
            pending = set()
        finally:
            if grant is not None:
                grant.release()
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return sorted(parts, key=lambda part: part["PartNumber"])

    async def _part(self, upload_id: str, number: int, data: PiecesBody) -> dict:
        response = await self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            **self.policy[1],
        )
        self.size += len(data)
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def _abort(self, upload_id: str) -> None:
        try:
            await self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id
            )
        except Exception as exc:  # the abandoned-upload cleanup pass is the backstop
            log.warning("could not abort multipart upload of %s: %s", self.key, exc)


def _returns(block: PiecesBody, grant: Grant | None) -> Any:
    """A done-callback that frees a part's bytes and gives its budget back (idempotent)."""

    def done(_task: object) -> None:
        block.drop()
        if grant is not None:
            grant.release()

    return done


async def _shielded(coro: Any) -> None:
    """Runs clean-up to the end even when the request task is being cancelled."""
    task = asyncio.ensure_future(coro)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)
    if not task.done():
        await task
