"""Request id, latency metrics and log context for every HTTP request."""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logging as log_context
from core.metrics import HTTP_REQUEST_SECONDS


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): streaming and WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        token = log_context.request_id.set(rid)
        query = scope.get("query_string", b"").decode()
        org_token = log_context.organization_id.set(
            next(
                (p.split("=", 1)[1] for p in query.split("&") if p.startswith("organization_id=")),
                None,
            )
        )
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"
            HTTP_REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
            log_context.request_id.reset(token)
            log_context.organization_id.reset(org_token)
