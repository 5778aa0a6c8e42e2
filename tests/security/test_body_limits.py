"""Request bodies are capped in the ASGI layer, counted as they arrive: a declared size over
the cap is refused at once, a chunked body once it passes the cap, and the app never gets
the rest (the compute webhook's HMAC never runs over an oversized body)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

import api.routes.compute_webhook as compute_webhook
from api.body_limits import BodyLimitMiddleware, body_limits
from core.compute import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from core.config import Settings
from tests.helpers import PREFIX, Api, UserHandle
from tests.realtime.server import serve

KIB = 1024
MIB = 1024 * KIB


def padded_product(sku: str, size: int) -> bytes:
    """A valid product JSON of `size` bytes (trailing whitespace is valid JSON): accepted
    and written if the cap did not stop it."""
    head = json.dumps({"name": "Padded product", "sku": sku}).encode()
    return head + b" " * (size - len(head))


async def chunks(body: bytes, size: int = 64 * KIB) -> AsyncIterator[bytes]:
    """As a streaming body, httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def product_count(api: Api, user: UserHandle) -> int:
    r = await api.get("/products/", as_=user, params={"organization_id": user.orgs[0]})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def too_large(limit: int) -> dict[str, str]:
    return {"detail": f"request body too large (limit {limit} bytes)"}


# ---- the mapping -----------------------------------------------------------------------


def test_each_route_family_has_its_cap(settings: Settings) -> None:
    families, default = body_limits(settings)
    middleware = BodyLimitMiddleware(lambda *_: None, families, default)  # type: ignore[arg-type]
    api = settings.API_V1_STR
    assert default == settings.BODY_LIMIT_DEFAULT_BYTES == MIB
    cases = {
        (f"{api}/products/", "application/json"): MIB,
        (f"{api}/tasks/webhook", "application/json"): 256 * KIB,
        (f"{api}/login/access-token", "application/x-www-form-urlencoded"): 16 * KIB,
        (f"{api}/reset-password/", "application/json"): 16 * KIB,
        # a CSV posted to the API: up to the route's own 200 MB (+ framing) ...
        (f"{api}/bulk-uploads/", "multipart/form-data"): 201 * MIB,
        # ... but its JSON form (a presigned upload's key) is an ordinary JSON body
        (f"{api}/bulk-uploads/", "application/json"): MIB,
    }
    for (path, media_type), limit in cases.items():
        assert middleware.limit_for(path, media_type) == limit, (path, media_type)


# ---- the middleware on its own ---------------------------------------------------------


class RecordingApp:
    """Reads the whole body, then answers 200; records what it received and sent."""

    def __init__(self) -> None:
        self.called = False
        self.received = 0
        self.sent: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        try:
            while True:
                message = await receive()
                self.received += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except Exception:
            # like any framework: an error while reading becomes an error response
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"oops"})
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def run_middleware(
    app: RecordingApp, body_chunks: list[bytes], *, headers: list[tuple[bytes, bytes]]
) -> tuple[list[Message], int]:
    """Run the middleware (cap 1000 bytes) over a body sent in `body_chunks`; returns what
    reached the client and how many chunks were pulled from the server."""
    middleware = BodyLimitMiddleware(app, [], 1000)
    pending = list(body_chunks)
    pulled = 0
    out: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        out.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    await middleware(scope, receive, send)
    return out, pulled


async def test_a_streamed_body_is_cut_off_once_it_passes_the_cap() -> None:
    app = RecordingApp()
    sent, pulled = await run_middleware(app, [b"a" * 400] * 5, headers=[])
    assert pulled == 3, "the chunks after the one that passed the cap are never read"
    assert app.received == 800, "the app never gets the chunk that passed the cap"
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert json.loads(sent[-1]["body"]) == too_large(1000)


async def test_a_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    app = RecordingApp()
    sent, pulled = await run_middleware(app, [b"a"], headers=[(b"content-length", b"1001")])
    assert not app.called and pulled == 0
    assert sent[0]["status"] == 413


async def test_a_body_at_the_cap_passes() -> None:
    app = RecordingApp()
    sent, _ = await run_middleware(app, [b"a" * 500, b"a" * 500], headers=[])
    assert app.received == 1000 and sent[0]["status"] == 200


async def test_websockets_pass_through_untouched() -> None:
    seen: list[Any] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((receive, send))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    middleware = BodyLimitMiddleware(inner, [], 1)
    await middleware({"type": "websocket", "path": "/api/v1/ws", "headers": []}, receive, send)
    assert seen == [(receive, send)]


# ---- through the app ---------------------------------------------------------------------


async def test_an_oversized_json_body_is_refused_and_nothing_is_written(
    api: Api, user: UserHandle
) -> None:
    before = await product_count(api, user)
    r = await api.post(
        "/products/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        content=padded_product("PAD-DECLARED", 2 * MIB),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == too_large(MIB)
    assert await product_count(api, user) == before


async def test_a_chunked_body_over_the_cap_is_refused_by_a_real_server(
    app: FastAPI, api: Api, user: UserHandle
) -> None:
    before = await product_count(api, user)
    url = f"{PREFIX}/products/?organization_id={user.orgs[0]}"
    headers = {**user.headers, "Content-Type": "application/json"}
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        small = await http.post(
            url, content=chunks(padded_product("PAD-SMALL", 100 * KIB)), headers=headers
        )
        r = await http.post(
            url, content=chunks(padded_product("PAD-CHUNKED", 3 * MIB)), headers=headers
        )
    assert small.status_code == 201, small.text  # a chunked body under the cap is fine
    assert small.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert r.json() == too_large(MIB)
    assert await product_count(api, user) == before + 1


async def test_the_compute_webhook_is_capped_before_its_hmac(
    app: FastAPI, api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def spy(secret: str, body: bytes, signature: str | None) -> bool:
        calls.append(len(body))
        return real(secret, body, signature)

    real = compute_webhook.verify_webhook
    monkeypatch.setattr(compute_webhook, "verify_webhook", spy)
    event = {"event_type": "task.completed", "task_id": "t", "task_type": "generation"}
    body = json.dumps(event).encode()
    body += b" " * (300 * KIB - len(body))  # over the 256 KiB cap
    headers = {
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(settings.COMPUTE_WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    declared = await api.post("/tasks/webhook", content=body, headers=headers)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        chunked = await http.post(f"{PREFIX}/tasks/webhook", content=chunks(body), headers=headers)
    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert chunked.json() == too_large(256 * KIB)
    assert calls == [], "the HMAC was computed over an oversized body"

    # the spy is in place: a body under the cap reaches the signature check
    small = await api.post(
        "/tasks/webhook", content=b"{}", headers={WEBHOOK_SIGNATURE_HEADER: "sha256=00"}
    )
    assert small.status_code == 401 and calls == [2]


async def test_the_login_form_is_small(api: Api) -> None:
    r = await api.post(
        "/login/access-token", data={"username": "a@example.com", "password": "p" * (20 * KIB)}
    )
    assert r.status_code == 413
    assert r.json() == too_large(16 * KIB)


async def test_a_csv_posted_to_bulk_uploads_may_exceed_the_json_cap(
    api: Api, user: UserHandle
) -> None:
    # 2 MiB of multipart reaches the route (which then refuses a PNG by its own rule) ...
    r = await api.post(
        "/bulk-uploads/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        files={"file": ("photo.png", b"\x89PNG" + b"x" * (2 * MIB), "image/png")},
    )
    assert r.status_code == 400 and "Only CSV" in r.json()["detail"], r.text
    # ... while a JSON body there is an ordinary JSON body
    r = await api.post(
        "/bulk-uploads/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        content=b'{"temp_key": "temp/x"}' + b" " * (2 * MIB),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
