"""GET /api/v1/ws end to end: a real server, real Redis, real users and organizations."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from api import ws
from core.config import Settings
from core.event_hub import EventHub
from core.security import create_token, decode_token
from models.events import server_message_adapter
from tests.helpers import Api, UserHandle
from tests.realtime.conftest import Publish, Socket
from tests.realtime.test_events import kill_pubsub_connection, wait_for

OpenSocket = Callable[..., Awaitable[Socket]]


def token_for(settings: Settings, user: UserHandle, expires_in: timedelta) -> str:
    """An access token of `user`'s session with another lifetime."""
    sid = decode_token(settings, user.access_token, token_type="access")["sid"]
    return create_token(
        settings,
        subject=uuid.UUID(user.id),
        token_type="access",
        expires_in=expires_in,
        extra={"sid": sid},
    )


# -- authentication ----------------------------------------------------------------------------


async def test_connect_with_query_token_receives_event_envelope(
    open_socket: OpenSocket, publish: Publish, user: UserHandle
) -> None:
    socket = await open_socket(user)
    assert socket.hello == {
        "type": "auth.success",
        "user_id": user.id,
        "organization_ids": user.orgs,
        "context": {"last_event_id": socket.hello["context"]["last_event_id"]},
    }
    event_id = await publish(
        type="export.completed",
        payload={"export_id": "e1", "progress": 1.0},
        organization_id=user.orgs[0],
        user_id=user.id,
    )
    message = await socket.recv()
    assert message == {
        "id": event_id,
        "type": "export.completed",
        "ts": message["ts"],
        "payload": {"export_id": "e1", "progress": 1.0},
    }
    assert int(event_id) > int(socket.hello["context"]["last_event_id"])
    assert server_message_adapter.validate_python(message).type == "export.completed"


async def test_connect_with_first_message_auth_receives_events(
    open_socket: OpenSocket, publish: Publish, user: UserHandle
) -> None:
    socket = await open_socket()
    await socket.send({"type": "auth", "token": user.access_token})
    hello = await socket.recv()
    assert hello["type"] == "auth.success" and hello["user_id"] == user.id
    event_id = await publish(user_id=user.id)
    assert (await socket.recv())["id"] == event_id


@pytest.mark.parametrize("how", ["query", "message"])
async def test_connect_with_bad_token_gets_auth_error_and_close(
    open_socket: OpenSocket, how: str
) -> None:
    if how == "query":
        socket = await open_socket(token="not-a-jwt", expect_success=False)
    else:
        socket = await open_socket()
        await socket.send({"type": "auth", "token": "not-a-jwt"})
    assert await socket.recv() == {
        "type": "auth.error",
        "error": "Could not validate credentials",
    }
    code, _, _ = await socket.closed()
    assert code == 1008


async def test_connect_with_expired_token_gets_auth_error_and_close(
    open_socket: OpenSocket, settings: Settings, user: UserHandle
) -> None:
    socket = await open_socket()
    await socket.send({"type": "auth", "token": token_for(settings, user, timedelta(seconds=-5))})
    assert (await socket.recv())["type"] == "auth.error"
    code, _, _ = await socket.closed()
    assert code == 1008


async def test_connect_with_revoked_session_gets_auth_error(
    api: Api, open_socket: OpenSocket, user: UserHandle
) -> None:
    assert (await api.post("/logout", as_=user)).status_code == 200
    socket = await open_socket(token=user.access_token, expect_success=False)
    assert (await socket.recv())["type"] == "auth.error"
    assert (await socket.closed())[0] == 1008


async def test_connect_without_auth_message_is_refused(
    app: FastAPI, open_socket: OpenSocket, settings: Settings
) -> None:
    socket = await open_socket()
    await socket.send({"type": "ping"})
    assert await socket.recv() == {"type": "auth.error", "error": "Expected an auth message"}
    assert (await socket.closed())[0] == 1008

    # The app's settings with a short auth timeout (not monkeypatch: it cannot restore
    # attributes of Starlette's State).
    original = app.state.settings
    app.state.settings = settings.model_copy(update={"WS_AUTH_TIMEOUT_SECONDS": 0.2})
    try:
        silent = await open_socket()
        assert await silent.recv() == {"type": "auth.error", "error": "Authentication timed out"}
        assert (await silent.closed())[0] == 1008
    finally:
        app.state.settings = original


async def test_stream_until_token_expiry_then_close(
    open_socket: OpenSocket, publish: Publish, settings: Settings, user: UserHandle
) -> None:
    socket = await open_socket(user, token=token_for(settings, user, timedelta(seconds=2)))
    event_id = await publish(user_id=user.id)
    assert (await socket.recv())["id"] == event_id
    code, reason, _ = await socket.closed(within=5)
    assert (code, reason) == (1008, "access token expired")


# -- who receives what -------------------------------------------------------------------------


async def test_deliver_org_event_not_to_other_org_user(
    open_socket: OpenSocket, publish: Publish, user: UserHandle, other_user: UserHandle
) -> None:
    mine = await open_socket(user)
    theirs = await open_socket(other_user)
    secret = await publish(organization_id=user.orgs[0], user_id=user.id)
    marker = await publish(organization_id=other_user.orgs[0], user_id=other_user.id)
    # Ids are ordered: had the secret leaked, it would arrive before the marker.
    assert [m["id"] for m in await theirs.recv_until(marker)] == [marker]
    assert (await mine.recv())["id"] == secret


async def test_deliver_personal_event_only_to_its_user(
    api: Api,
    open_socket: OpenSocket,
    publish: Publish,
    user: UserHandle,
    other_user: UserHandle,
) -> None:
    await api.add_member(user.orgs[0], user, other_user)
    mine = await open_socket(user)
    theirs = await open_socket(other_user)
    assert set(theirs.hello["organization_ids"]) == {user.orgs[0], other_user.orgs[0]}
    personal = await publish(user_id=user.id)
    shared = await publish(organization_id=user.orgs[0], user_id=user.id)
    assert [m["id"] for m in await theirs.recv_until(shared)] == [shared]
    assert [m["id"] for m in await mine.recv_until(shared)] == [personal, shared]


async def test_deliver_org_event_to_every_member_socket(
    api: Api,
    open_socket: OpenSocket,
    publish: Publish,
    user: UserHandle,
    other_user: UserHandle,
) -> None:
    await api.add_member(user.orgs[0], user, other_user)
    sockets = [await open_socket(user), await open_socket(user), await open_socket(other_user)]
    event_id = await publish(organization_id=user.orgs[0])
    for socket in sockets:
        assert (await socket.recv())["id"] == event_id


# -- replay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["query", "message"])
async def test_reconnect_with_last_event_id_replays_missed_events_in_order(
    open_socket: OpenSocket,
    publish: Publish,
    user: UserHandle,
    other_user: UserHandle,
    how: str,
) -> None:
    org = user.orgs[0]
    socket = await open_socket(user)
    seen = await publish(organization_id=org, payload={"n": 0})
    assert (await socket.recv())["id"] == seen
    await socket.conn.close()

    missed = []
    for n in range(1, 7):  # both of the user's scopes, interleaved with a stranger's
        target = {"organization_id": org} if n % 2 else {"user_id": user.id}
        missed.append(await publish(payload={"n": n}, **target))
        await publish(user_id=other_user.id)

    if how == "query":
        again = await open_socket(user, last_event_id=seen)
    else:
        again = await open_socket()
        await again.send({"type": "auth", "token": user.access_token, "last_event_id": seen})
        again.hello = await again.recv()
    assert again.hello["context"]["last_event_id"] == seen
    replayed = [await again.recv() for _ in missed]
    assert [m["id"] for m in replayed] == missed
    assert [m["payload"]["n"] for m in replayed] == [1, 2, 3, 4, 5, 6]
    live = await publish(organization_id=org)
    assert (await again.recv())["id"] == live  # no duplicate, no gap


@pytest.mark.parametrize("last_event_id", ["garbage", "999999999999999"])
async def test_reconnect_with_unusable_last_event_id_gets_resync(
    open_socket: OpenSocket, publish: Publish, user: UserHandle, last_event_id: str
) -> None:
    socket = await open_socket(user, last_event_id=last_event_id)
    assert (await socket.recv())["type"] == "resync"
    live = await publish(user_id=user.id)
    assert (await socket.recv())["id"] == live


async def test_publish_with_dedupe_key_reaches_socket_once(
    open_socket: OpenSocket, publish: Publish, user: UserHandle
) -> None:
    socket = await open_socket(user)
    key = f"test:{uuid.uuid4().hex}"
    first = await publish(user_id=user.id, dedupe_key=key)
    assert await publish(user_id=user.id, dedupe_key=key) == first
    marker = await publish(user_id=user.id)
    assert [m["id"] for m in await socket.recv_until(marker)] == [first, marker]


# -- connection behaviour --------------------------------------------------------------------


async def test_ping_gets_pong(open_socket: OpenSocket, user: UserHandle) -> None:
    socket = await open_socket(user)
    await socket.send({"type": "ping"})
    assert await socket.recv() == {"type": "pong"}
    await socket.conn.send("not json")  # ignored, the socket stays up
    await socket.send({"type": "ping"})
    assert await socket.recv() == {"type": "pong"}


async def test_connect_counts_live_connections(open_socket: OpenSocket, user: UserHandle) -> None:
    before = ws.live_connections.value
    first = await open_socket(user)
    await open_socket(user)
    assert ws.live_connections.value == before + 2
    assert ws.streaming_connections.value >= 2
    await first.conn.close()
    await wait_for(lambda: ws.live_connections.value == before + 1)


async def test_slow_consumer_is_dropped_while_other_socket_keeps_receiving(
    app: FastAPI,
    open_socket: OpenSocket,
    publish: Publish,
    user: UserHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub: EventHub = app.state.event_hub
    monkeypatch.setattr(hub, "queue_size", 8)
    slow = await open_socket(user, max_queue=1, compression=None)  # and never reads
    fast = await open_socket(user, compression=None)
    overflows = hub.stats.overflows
    received: list[str] = []

    async def read_fast() -> None:
        while True:
            received.append((await fast.recv(within=30))["id"])

    reader = asyncio.create_task(read_fast())
    published = []
    try:
        # Big incompressible events fill the slow client's socket buffers, then its queue.
        while hub.stats.overflows == overflows:
            assert len(published) < 2000, "the slow socket was never dropped"
            blob = os.urandom(32 * 1024).hex()
            published.append(await publish(organization_id=user.orgs[0], payload={"b": blob}))
            await asyncio.sleep(0)
        marker = await publish(organization_id=user.orgs[0])
        published.append(marker)
        await wait_for(lambda: marker in received, within=30)
    finally:
        reader.cancel()
    assert received == published
    code, reason, _ = await slow.closed(within=30)
    assert code == 1013 and reason and "slow" in reason


async def test_hub_survives_pubsub_kill_and_delivers_outage_events(
    app: FastAPI,
    open_socket: OpenSocket,
    publish: Publish,
    redis: Redis,
    user: UserHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub: EventHub = app.state.event_hub
    monkeypatch.setattr(hub, "reconnect_backoff", (0.4, 0.4))
    socket = await open_socket(user)
    before = (await publish(user_id=user.id),)
    assert (await socket.recv())["id"] == before[0]
    stats = (hub.stats.connects, hub.stats.disconnects)

    await kill_pubsub_connection(redis, hub)
    await wait_for(lambda: hub.stats.disconnects == stats[1] + 1)
    during = [await publish(user_id=user.id), await publish(organization_id=user.orgs[0])]
    await wait_for(lambda: hub.stats.connects == stats[0] + 1)
    after = [await publish(user_id=user.id)]
    received = await socket.recv_until(after[0])
    assert [m["id"] for m in received] == during + after


async def test_hub_stop_closes_sockets_with_service_restart(
    app: FastAPI, open_socket: OpenSocket, user: UserHandle
) -> None:
    # (not monkeypatch: it cannot restore attributes of Starlette's State)
    original, hub = app.state.event_hub, EventHub(app.state.redis, app.state.settings)
    await hub.start()
    app.state.event_hub = hub
    try:
        socket = await open_socket(user)
        await hub.stop()
        code, reason, _ = await socket.closed()
    finally:
        app.state.event_hub = original
        await hub.stop()
    assert (code, reason) == (1012, "server restarting")


async def test_connect_while_database_unreachable_is_told_to_retry_later(
    app: FastAPI, open_socket: OpenSocket, settings: Settings, user: UserHandle
) -> None:
    """Postgres down (here: a real engine aimed at a port nobody listens on): the socket is
    closed 1013 "retry later", not with an unhandled error, and works again once it is back."""
    from core.db import create_engine, create_sessionmaker
    from devstack.ports import bound_socket

    with bound_socket() as held:  # bound, never listening: connections are refused
        port = held.getsockname()[1]
        down = settings.model_copy(
            update={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/nothing"}
        )
        engine = create_engine(down, application_name="sartiq-test-down")
        original = app.state.sessionmaker
        app.state.sessionmaker = create_sessionmaker(engine)
        try:
            refused = await open_socket(user, expect_success=False)
            code, reason, messages = await refused.closed()
        finally:
            app.state.sessionmaker = original
            await engine.dispose()
    assert (code, messages) == (1013, [])
    assert reason and "retry later" in reason
    assert (await open_socket(user)).hello["type"] == "auth.success"
