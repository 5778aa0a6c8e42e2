"""Security headers on every HTTP response, and the live page's Content-Security-Policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings

HSTS = "max-age=31536000; includeSubDomains"
# Everywhere: no framing (clickjacking), no MIME sniffing, no Referer leaking URLs (file
# links carry tokens). Only `frame-ancestors` in the CSP: /docs runs Swagger UI's inline
# script from a CDN, which a stricter policy would block.
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
FRAME_ANCESTORS = "frame-ancestors 'none'"


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def image_origins(settings: Settings) -> list[str]:
    """Where the live page's images come from: GET /files/{id} redirects to the CDN
    (R2_PUBLIC_URL) or to a presigned URL on the browser-facing store endpoint
    (R2_PUBLIC_ENDPOINT_URL, else the store's own endpoint); a CSP applies to redirects."""
    store = settings.R2_PUBLIC_ENDPOINT_URL or settings.r2_endpoint
    found = [_origin(settings.R2_PUBLIC_URL), _origin(store)]
    return list(dict.fromkeys(o for o in found if o))


def page_csp(settings: Settings) -> str:
    """The live page (/app): its own script and stylesheet only, images from the store,
    the API and its WebSocket."""
    images = " ".join(["'self'", *image_origins(settings)])
    return "; ".join(
        (
            "default-src 'self'",
            f"img-src {images}",
            "connect-src 'self' ws: wss:",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            FRAME_ANCESTORS,
        )
    )


class SecurityHeadersMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): WebSockets pass through untouched. A header the
    app set itself is left as it is."""

    def __init__(self, app: ASGIApp, settings: Settings, page_prefix: str = "/app") -> None:
        self.app = app
        self.page_prefix = page_prefix
        common = list(COMMON)
        if not settings.is_development:
            # Not on dev/test: browsers would pin HTTPS for localhost for a year.
            common.append((b"strict-transport-security", HSTS.encode()))
        self.api_headers = [*common, (b"content-security-policy", FRAME_ANCESTORS.encode())]
        self.page_headers = [*common, (b"content-security-policy", page_csp(settings).encode())]

    def _is_page(self, path: str) -> bool:
        return path == self.page_prefix or path.startswith(self.page_prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.page_headers if self._is_page(scope["path"]) else self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
