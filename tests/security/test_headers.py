"""Security headers on every HTTP response; a strict CSP on the live page (not on /docs,
whose Swagger UI runs inline script from a CDN); HSTS outside development and tests; and a
live page that builds its DOM from data as text, never as HTML."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from starlette.types import Message, Receive, Scope, Send

from api.main import STATIC_DIR, create_app
from api.security_headers import SecurityHeadersMiddleware, page_csp
from core.config import Settings

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"
PRODUCTION_SECRETS = {
    "JWT_SECRET": "j" * 48,
    "COMPUTE_SERVER_ADMIN_TOKEN": "compute-token-prod",
    "COMPUTE_WEBHOOK_SECRET": "webhook-secret-prod",
    "FIRST_SUPERUSER_PASSWORD": "a-real-password",
    "R2_SECRET_ACCESS_KEY": "r2-secret-prod",
}


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_common(response: httpx.Response) -> None:
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_api_responses_carry_the_headers_and_no_hsts_in_tests(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/api/v1/utils/health-check/", "/api/v1/users/me", "/api/v1/nowhere"):
        r = await client.get(path)
        assert_common(r)
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert "strict-transport-security" not in r.headers


async def test_the_live_page_has_a_strict_csp(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for path in ("/app/", "/app/app.js", "/app/app.css"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert_common(r)
        csp = directives(r.headers["content-security-policy"])
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert set(csp["connect-src"]) == {"'self'", "ws:", "wss:"}
        # GET /files/{id} redirects the page's <img> to a presigned URL on the store
        store = httpx.URL(settings.R2_PUBLIC_ENDPOINT_URL or settings.r2_endpoint or "")
        assert csp["img-src"] == ["'self'", f"{store.scheme}://{store.netloc.decode()}"]
    # and the page holds nothing that policy would block
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_the_page_csp_allows_the_cdn_when_there_is_one(settings: Settings) -> None:
    cdn = settings.model_copy(
        update={
            "R2_PUBLIC_URL": "https://cdn.example.com/media",
            "R2_PUBLIC_ENDPOINT_URL": "https://s3.example.com:8443",
        }
    )
    img = directives(page_csp(cdn))["img-src"]
    assert img == ["'self'", "https://cdn.example.com", "https://s3.example.com:8443"]


async def test_the_docs_keep_working(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert_common(r)
    # Swagger UI: inline script from a CDN, so no script-src / default-src here
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_a_refused_body_still_carries_the_headers(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/login/access-token",
        content=b"x" * (64 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert_common(r)
    assert len(r.headers["x-request-id"]) == 32


async def test_hsts_outside_development(settings: Settings) -> None:
    production = Settings(
        _env_file=None,
        **{
            **settings.model_dump(exclude={"async_database_url", "r2_endpoint"}),
            **PRODUCTION_SECRETS,
            "ENVIRONMENT": "production",
            "LOG_FORMAT": "text",  # JSON logs would reconfigure this test process's logging
        },
    )
    app = create_app(production)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as http:
        for path in ("/api/v1/utils/health-check/", "/app/"):
            r = await http.get(path)
            assert r.status_code == 200
            assert_common(r)
            assert r.headers["strict-transport-security"] == HSTS


async def test_headers_set_by_the_app_are_kept_and_websockets_untouched(
    settings: Settings,
) -> None:
    sent: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"x-frame-options", b"SAMEORIGIN")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    middleware = SecurityHeadersMiddleware(inner, settings)
    await middleware({"type": "http", "path": "/x", "headers": []}, receive, send)
    names = [name for name, _ in sent[0]["headers"]]
    assert names.count(b"x-frame-options") == 1 and b"x-content-type-options" in names

    passed: list[object] = []

    async def ws_app(scope: Scope, receive: Receive, send_: Send) -> None:
        passed.append(send_)

    await SecurityHeadersMiddleware(ws_app, settings)(
        {"type": "websocket", "path": "/api/v1/ws", "headers": []}, receive, send
    )
    assert passed == [send]


def test_the_live_page_never_renders_data_as_html() -> None:
    script = Path(STATIC_DIR / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script, f"app.js uses {sink}: build elements with textContent"
    assert "textContent" in script and "createElement" in script
