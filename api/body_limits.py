"""Request body caps per route family, enforced in the ASGI layer as the body arrives.

A declared `Content-Length` over the cap is refused before the app runs; otherwise the bytes
are counted as they are received (chunked bodies included: the header is never trusted
alone), and once the count passes the cap the client gets 413 and the app gets no more of
the body. Routes that read the raw body (the compute webhook's HMAC, the bulk upload's
multipart parser) therefore never see more than their cap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """Bodies sent to paths starting with `prefix` (and, when given, of `media_type`) may
    be at most `limit` bytes."""

    prefix: str
    limit: int
    media_type: str | None = None

    def matches(self, path: str, media_type: str) -> bool:
        return path.startswith(self.prefix) and self.media_type in (None, media_type)


def body_limits(settings: Settings) -> tuple[tuple[BodyLimit, ...], int]:
    """The route families with their own cap (first match wins) and the default cap."""
    api = settings.API_V1_STR
    auth = settings.BODY_LIMIT_AUTH_BYTES
    families = (
        # Signed by the Compute Server: capped before the route computes its HMAC.
        BodyLimit(f"{api}/tasks/webhook", settings.BODY_LIMIT_COMPUTE_WEBHOOK_BYTES),
        # Login form, token refresh and test, logout, password recovery and reset.
        BodyLimit(f"{api}/login/", auth),
        BodyLimit(f"{api}/logout", auth),
        BodyLimit(f"{api}/password-recovery/", auth),
        BodyLimit(f"{api}/reset-password/", auth),
        # The one route that takes a file through the API (images and presigned `bulk_csv`
        # uploads go straight to the store): only its multipart form gets the large cap.
        BodyLimit(
            f"{api}/bulk-uploads/", settings.BODY_LIMIT_BULK_UPLOAD_BYTES, "multipart/form-data"
        ),
    )
    return families, settings.BODY_LIMIT_DEFAULT_BYTES


class BodyTooLarge(Exception):
    """Raised into the app by `receive` once the cap is passed (it has been answered)."""


class BodyLimitMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): WebSockets and lifespan pass through untouched."""

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit], default: int) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default = default

    def limit_for(self, path: str, media_type: str) -> int:
        for family in self.limits:
            if family.matches(path, media_type):
                return family.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        media_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = self.limit_for(scope["path"], media_type.split(";")[0].strip().lower())
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # Refused before anything is read (nor a `100 Continue` sent).
            await _refuse(send, limit)
            return

        received = 0
        started = False  # the app began its response: too late for a 413
        refused = False  # we answered 413: whatever the app sends after is dropped

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # Once refused, any error is the app reacting to the missing body (FastAPI, for
            # one, turns it into a 400 about parsing): the client already has its 413.
            if not refused:
                raise
            log.info("request body over %d bytes refused: %s", limit, scope["path"])


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large (limit {limit} bytes)"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                # No `connection: close`: closing with the rest of the body unread makes the
                # kernel reset the connection, and the client may never see this answer. The
                # server drops the rest of the body as it arrives; the app never sees it.
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
