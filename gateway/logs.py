"""Log lines as text or JSON, each carrying the request ID of the request it belongs to.

Every handler gets the `RedactingFilter` first, so no format ever sees a secret; the JSON
formatter masks the extra fields (access-log values) too.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import time

from gateway.redact import PRE_REDACTED, RedactingFilter, redact

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# A client's own ID is kept when it is short and plain; anything else is replaced.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# What a LogRecord has anyway: the rest of its attributes are a line's extra fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_STANDARD.add(PRE_REDACTED)


class _RequestIds:
    """32 hex digits as `uuid4().hex` gave: 16 random per process, then a counter. Unique, not
    secret (the client is told its ID), and no 16 bytes from `os.urandom` per request."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # `--workers`: a prefix per worker

    def reset(self) -> None:
        self.prefix, self.counter = os.urandom(8).hex(), itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _RequestIds()


def request_id_for(sent: str | None) -> str:
    """The client's `X-Request-ID` when acceptable, else a new one."""
    if sent and _ACCEPTABLE_ID.fullmatch(sent):
        return sent
    return _ids.new()


def bind_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def unbind_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def current_request_id() -> str | None:
    """The ID of the request being handled in this task (None outside a request)."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's ID (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, process, request ID, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.process,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        masked = not getattr(record, PRE_REDACTED, False)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = redact(value) if masked and isinstance(value, str) else value
        return json.dumps(line, ensure_ascii=False, default=str)


_TEXT = "%(asctime)s [%(process)d] %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(level: str, fmt: str = "text") -> None:
    """The process id tells `--workers` apart; the request ID ties a request's lines together."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("gateway.access").setLevel(max(root.level, logging.INFO))
