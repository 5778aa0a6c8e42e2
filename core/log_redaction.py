"""No token, ticket or signature in a log line (DESIGN §11).

URLs carry secrets in their query strings: our signed file URLs (`sig`), WebSocket tickets
(`ticket`), presigned S3 URLs (`X-Amz-Signature`, `X-Amz-Credential`), and whatever a
client puts in `token`/`access_token`. uvicorn's access log prints every request's path with
its query, and httpx logs every URL it requests; this filter replaces those values with
`[redacted]` before any handler formats the record.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = (
    "token",
    "access_token",
    "refresh_token",
    "ticket",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
)
# name=value inside a query string (after ? or &), the name matched case-insensitively.
_NAMES = "|".join(re.escape(p) for p in SECRET_PARAMS)
_PATTERN = re.compile(rf"(?P<lead>[?&](?:{_NAMES})=)[^&#\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"
# Loggers that print URLs: uvicorn's access log and errors, httpx/httpcore requests.
URL_LOGGERS = ("uvicorn.access", "uvicorn.error", "httpx", "httpcore")


def redact(text: str) -> str:
    return _PATTERN.sub(lambda m: m.group("lead") + REDACTED, text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to every logger that prints URLs (idempotent)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
