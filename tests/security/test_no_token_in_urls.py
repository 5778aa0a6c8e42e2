"""No token in a URL: signed file URLs for <img src>, one-time WebSocket tickets, and an
access log that never shows a token, a ticket or a signature."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from core import file_urls
from core.config import Settings
from tests.api_process import api_process
from tests.helpers import Api, UserHandle
from tests.media.test_uploads import png, upload
from tests.realtime.conftest import ws_url
from tests.realtime.server import serve


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


async def _product_image(api: Api, user: UserHandle) -> tuple[str, str, bytes]:
    """(media id, its signed file URL, its bytes) of a new product's cover."""
    data = png((uuid.uuid4().int % 255, 10, 10))
    product = await api.create(
        "/products/",
        {"name": "P", "images": [{"key": await upload(api, user, data)}]},
        as_=user,
        org=user.orgs[0],
    )
    (image,) = product["images"]
    return image["media_resource_id"], image["file_url"], data


async def _hello(url: str, first: dict[str, str] | None = None) -> tuple[dict, int | None]:
    """The socket's first answer and, when it was refused, its close code."""
    async with connect(url, open_timeout=5) as conn:
        if first is not None:
            await conn.send(json.dumps(first))
        hello = json.loads(await conn.recv())
        if hello["type"] == "auth.success":
            return hello, None
        await conn.wait_closed()
        return hello, conn.close_code


async def test_images_come_as_signed_urls_that_need_no_token(api: Api, user: UserHandle) -> None:
    media_id, url, data = await _product_image(api, user)
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"exp", "sig"} and url.startswith(f"/api/v1/files/{media_id}?")
    async with httpx.AsyncClient(transport=api.client._transport, base_url="http://t") as anon:
        r = await anon.get(url)  # no Authorization header: the signature is the proof
        assert r.status_code == 302, r.text
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(r.headers["location"])).content == data
    # repeated reads within a window hand out the very same URL (caches keep working)
    again = await api.get("/products/", as_=user, params={"organization_id": user.orgs[0]})
    assert url in json.dumps(again.json())


async def test_a_signed_url_opens_only_its_own_file_and_only_until_it_expires(
    api: Api, user: UserHandle, settings: Settings
) -> None:
    media_id, url, _ = await _product_image(api, user)
    other_id, _, _ = await _product_image(api, user)
    query = parse_qs(urlsplit(url).query)
    exp, sig = query["exp"][0], query["sig"][0]
    tampered = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    cases = {
        "tampered signature": f"/files/{media_id}?exp={exp}&sig={tampered}",
        "another file": f"/files/{other_id}?exp={exp}&sig={sig}",
        "later expiry": f"/files/{media_id}?exp={int(exp) + 600}&sig={sig}",
    }
    for what, path in cases.items():
        assert (await api.get(path)).status_code == 404, what
    # a URL we signed in the past has expired
    old = file_urls.signed_url(media_id, settings=settings, now=time.time() - 10 * 86400)
    assert (await api.get(old.removeprefix("/api/v1"))).status_code == 404


async def test_a_token_in_a_query_string_is_refused(
    api: Api, user: UserHandle, live_url: str
) -> None:
    media_id, _, _ = await _product_image(api, user)
    r = await api.get(f"/files/{media_id}", params={"token": user.access_token})
    assert r.status_code == 401
    hello, code = await _hello(ws_url(live_url, token=user.access_token))
    assert hello["type"] == "auth.error" and "ticket" in hello["error"] and code == 1008


async def test_a_ticket_opens_one_socket_once(
    api: Api, user: UserHandle, app: FastAPI, live_url: str
) -> None:
    r = await api.post("/ws/ticket", as_=user)
    assert r.status_code == 200, r.text
    ticket = r.json()["ticket"]
    assert r.json()["expires_in"] == 30
    ttl = await app.state.redis.ttl("ws-ticket:" + hashlib.sha256(ticket.encode()).hexdigest())
    assert 0 < ttl <= 30  # kept in Redis, for 30 s at most
    hello, _ = await _hello(ws_url(live_url, ticket=ticket))
    assert hello["type"] == "auth.success" and hello["user_id"] == user.id
    again, code = await _hello(ws_url(live_url, ticket=ticket))
    assert again["type"] == "auth.error" and code == 1008
    assert (await api.post("/ws/ticket")).status_code == 401  # only for a signed-in user


async def test_a_ticket_is_valid_on_any_api_process_but_not_after_logout(
    api: Api, user: UserHandle, tmp_path: Path
) -> None:
    with api_process(tmp_path / "api.log") as other_process:
        ticket = (await api.post("/ws/ticket", as_=user)).json()["ticket"]
        hello, _ = await _hello(ws_url(other_process, ticket=ticket))
        assert hello["type"] == "auth.success"
        ticket = (await api.post("/ws/ticket", as_=user)).json()["ticket"]
        assert (await api.post("/logout", as_=user)).status_code == 200
        hello, code = await _hello(ws_url(other_process, ticket=ticket))
        assert hello["type"] == "auth.error" and code == 1008


async def test_the_access_log_never_shows_a_token_a_ticket_or_a_signature(
    api: Api, user: UserHandle, tmp_path: Path
) -> None:
    log_path = tmp_path / "api.log"
    media_id, url, _ = await _product_image(api, user)
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    with api_process(log_path, access_log=True, log_level="info") as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get(url)).status_code == 302
            r = await client.get(f"/api/v1/files/{media_id}?token={user.access_token}")
            assert r.status_code == 401
            ticket = (await client.post("/api/v1/ws/ticket", headers=user.headers)).json()["ticket"]
        hello, _ = await _hello(ws_url(base, ticket=ticket))
        assert hello["type"] == "auth.success"
        hello, _ = await _hello(ws_url(base, token=user.access_token))
        await asyncio.sleep(0.5)  # let the server write its last lines
    text = log_path.read_text()
    assert f"/api/v1/files/{media_id}" in text and "ws" in text  # the requests were logged
    for secret in (sig, ticket, user.access_token):
        assert secret not in text
    assert "[redacted]" in text
