"""Secrets never leave the process: one registry of secret values, applied to text and logs."""

from __future__ import annotations

import logging
import re

_MASK = "***"
_secrets: set[str] = set()
_longest_first: list[str] = []  # `_secrets` ordered for `redact`, kept by `register`
# Set on a record whose values were redacted where they were put in (the access log redacts
# its two client-given fields): the filter and the JSON formatter leave it as it is.
PRE_REDACTED = "pre_redacted"
# Signed URLs are short-lived credentials: their signatures stay out of logs too.
_SIGNED_QUERY = re.compile(r"((?:signature|X-Amz-Signature|X-Amz-Security-Token)=)[^&\s\"']+", re.I)
# botocore's SigV4 signer at debug (`botocore.auth.SigV4Auth.add_auth`) logs "Signature:\n<hex>"
# beside the canonical request: with the key id, enough to rebuild the presigned URL it signed.
_SIGNER_LOG = re.compile(r"(\bSignature:\s*)[0-9a-f]{64}\b", re.I)

# An Authorization header's value wherever a library logs one (botocore at debug: its own SigV4
# header; a dict or tuple of request headers): the value goes, the name stays.
_AUTHORIZATION = re.compile(
    r"((?:Proxy-)?Authorization['\"]?\s*[:=,]\s*(?-i:b)?['\"]?)"
    r"(?!\s*(?-i:b)?['\"]?\*\*\*)"  # already masked, however the separator is matched
    r"[^'\"\r\n]+",
    re.I,
)

_TRIGGERS = ("authorization", "signature", "x-amz-security-token")


def register(*values: str | None) -> None:
    """Remember secret values (keys, tokens, passwords) so that `redact` can hide them."""
    _secrets.update(v for v in values if v and len(v) >= 4)
    _longest_first[:] = sorted(_secrets, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, _MASK)
    lowered = text.lower()  # each pattern below needs one of these words (all match any case)
    if not any(word in lowered for word in _TRIGGERS):
        return text
    text = _AUTHORIZATION.sub(rf"\g<1>{_MASK}", text)
    text = _SIGNER_LOG.sub(rf"\g<1>{_MASK}", text)
    return _SIGNED_QUERY.sub(rf"\g<1>{_MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's final message, so no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, PRE_REDACTED, False):
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = ()
        return True
