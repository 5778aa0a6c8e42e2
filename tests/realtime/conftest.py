"""Fixtures of the real-time tests: a live server, socket clients, and tidy Redis keys.

Redis is shared with other runs: tests only touch keys of the scopes they create (random
ids) and delete them afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from core import events
from tests.helpers import UserHandle
from tests.realtime.server import serve

Publish = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


@pytest.fixture
def redis(app: FastAPI) -> Redis:
    return app.state.redis


@pytest.fixture
async def publish(redis: Redis) -> AsyncIterator[Publish]:
    """`core.events.publish` that remembers the keys it wrote, deleted after the test."""
    keys: set[str] = set()

    async def _publish(
        *,
        type: str = "export.updated",
        payload: dict[str, Any] | None = None,
        organization_id: Any = None,
        user_id: Any = None,
        **kwargs: Any,
    ) -> str:
        scope = events.scope_for(organization_id, user_id)
        keys.add(events.stream_key(scope))
        if kwargs.get("dedupe_key"):
            keys.add(f"events:dedupe:{kwargs['dedupe_key']}")
        return await events.publish(
            redis,
            type=type,
            payload=payload if payload is not None else {},
            organization_id=organization_id,
            user_id=user_id,
            **kwargs,
        )

    yield _publish
    if keys:
        await redis.delete(*keys)


def ws_url(base_url: str, **query: str) -> str:
    url = base_url.replace("http://", "ws://") + "/api/v1/ws"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


class Socket:
    """A connected client with JSON helpers."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.hello: dict[str, Any] = {}

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            return json.loads(await self.conn.recv())

    async def recv_until(self, event_id: str, within: float = 10.0) -> list[dict[str, Any]]:
        """Every message up to and including the one with `event_id`."""
        received = []
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.conn.recv())
                received.append(message)
                if message.get("id") == event_id:
                    return received

    async def closed(self, within: float = 10.0) -> tuple[int | None, str | None, list[Any]]:
        """Read until the server closes: (code, reason, messages read meanwhile)."""
        from websockets.exceptions import ConnectionClosed

        drained: list[Any] = []
        async with asyncio.timeout(within):
            try:
                while True:
                    drained.append(await self.conn.recv())
            except ConnectionClosed as closed:
                rcvd = closed.rcvd  # None: the connection dropped without a close frame
        return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else None), drained


@pytest.fixture
async def open_socket(base_url: str) -> AsyncIterator[Callable[..., Awaitable[Socket]]]:
    """Open sockets (closed after the test). `await open_socket(user)` authenticates with
    the first message (tokens never travel in the URL) and keeps `auth.success` in
    `.hello`; `token=` sends another token and `expect_success=False` leaves the handshake
    to the test."""
    opened: list[ClientConnection] = []

    async def _open(
        user: UserHandle | None = None,
        *,
        token: str | None = None,
        last_event_id: str | None = None,
        expect_success: bool | None = None,
        **connect_kwargs: Any,
    ) -> Socket:
        token = token if token is not None else (user.access_token if user else None)
        query = {}
        if last_event_id is not None and token is None:
            query["last_event_id"] = last_event_id
        conn = await connect(ws_url(base_url, **query), open_timeout=5, **connect_kwargs)
        opened.append(conn)
        socket = Socket(conn)
        if token is not None:
            auth: dict[str, Any] = {"type": "auth", "token": token}
            if last_event_id is not None:
                auth["last_event_id"] = last_event_id
            await conn.send(json.dumps(auth))
        if expect_success if expect_success is not None else token is not None:
            socket.hello = await socket.recv()
            assert socket.hello["type"] == "auth.success", socket.hello
        return socket

    yield _open
    for conn in opened:
        await conn.close()
