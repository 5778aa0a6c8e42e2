"""A generation seen through the WebSocket: REST start → worker → events on the socket of the
organization's members, and nothing on the socket of anybody else."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from core import events
from tests.generation.conftest import make_shot
from tests.helpers import Api, UserHandle
from tests.realtime.conftest import Socket, ws_url
from tests.realtime.server import serve

# What GET /generations/{id} and the event payload must agree on.
GENERATION_FIELDS = (
    "id",
    "organization_id",
    "owner_id",
    "shot_id",
    "shooting_id",
    "status",
    "batch_size",
    "workflow_id",
    "compute_task_id",
    "progress",
    "attempt",
    "best_score",
    "error_message",
    "error_category",
    "started_at",
    "completed_at",
    "predictions",
)
TERMINAL_TYPES = ("generation.completed", "generation.failed", "generation.cancelled")

OpenSocket = Callable[[UserHandle], Awaitable[Socket]]


@pytest.fixture(scope="module")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


@pytest.fixture
async def open_socket(live_url: str) -> AsyncIterator[OpenSocket]:
    """`await open_socket(user)`: an authenticated socket (closed after the test)."""
    opened: list[ClientConnection] = []

    async def _open(user: UserHandle) -> Socket:
        conn = await connect(ws_url(live_url), open_timeout=5)
        opened.append(conn)
        await conn.send(json.dumps({"type": "auth", "token": user.access_token}))
        socket = Socket(conn)
        socket.hello = await socket.recv()
        assert socket.hello["type"] == "auth.success", socket.hello
        return socket

    yield _open
    for conn in opened:
        await conn.close()


async def _events_until(
    socket: Socket, done: Callable[[list[dict[str, Any]]], bool], within: float = 30
) -> list[dict[str, Any]]:
    """Messages until `done(received)` holds (bounded)."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not done(received):
            received.append(json.loads(await socket.conn.recv()))
    return received


def _of(received: list[dict[str, Any]], generation_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in received
        if m["type"].startswith("generation.") and m["payload"]["id"] == generation_id
    ]


def _assert_envelopes(received: list[dict[str, Any]]) -> None:
    for message in received:
        assert set(message) == {"id", "type", "ts", "payload"}, message
    ids = [int(m["id"]) for m in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids


async def _assert_nothing_leaked(
    app: FastAPI, outsider: UserHandle, socket: Socket, secret_ids: set[str]
) -> None:
    """Publish a marker to the outsider's own organization: once it arrives, anything the
    outsider could have received about the generation would have arrived before it."""
    org = uuid.UUID(outsider.orgs[0])
    marker_id = await events.publish(
        app.state.redis,
        type="export.updated",
        payload={"marker": True},
        organization_id=org,
        user_id=None,
    )
    try:
        received = await socket.recv_until(marker_id, within=10)
    finally:
        await app.state.redis.delete(events.stream_key(events.org_scope(org)))
    assert [m["id"] for m in received] == [marker_id], received
    assert not any(str(m.get("payload", {}).get("id")) in secret_ids for m in received)


async def test_generate_shot_streams_every_status_to_the_socket(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    other_user: UserHandle,
    worker: dict[str, Any],
    open_socket: OpenSocket,
) -> None:
    world = await make_shot(api, user)
    org, shot_id = world["org"], world["shot_ids"][0]
    mine = await open_socket(user)
    theirs = await open_socket(other_user)
    assert org in mine.hello["organization_ids"]

    r = await api.post(
        f"/shots/{shot_id}/generate",
        as_=user,
        params={"organization_id": org},
        json={"num_predictions": 2},
    )
    assert r.status_code == 202, r.text
    generation_id = r.json()["id"]

    def finished(received: list[dict[str, Any]]) -> bool:
        types = [m["type"] for m in received]
        return "generation.completed" in types and any(
            m["type"] == "shot.updated"
            and m["payload"]["id"] == shot_id
            and types.index("generation.completed") < i
            for i, m in enumerate(received)
        )

    received = await _events_until(mine, finished)
    _assert_envelopes(received)
    mine_gen = _of(received, generation_id)

    # Every status in order: created (pending), processing (with progress updates) ...
    # completed, then the shot.
    types = [m["type"] for m in mine_gen]
    assert types[0] == "generation.created" and types[-1] == "generation.completed", types
    assert set(types[1:-1]) == {"generation.updated"}, types
    statuses = [m["payload"]["status"] for m in mine_gen]
    assert statuses == ["pending"] + ["processing"] * (len(statuses) - 2) + ["completed"]
    assert statuses[1] == "processing"
    progress = [m["payload"]["progress"] for m in mine_gen]
    assert progress == sorted(progress) and progress[-1] == 1.0

    # The completed event carries what GET /generations/{id} answers, at once: a client
    # reloads on the event, so the event must not arrive before its transaction committed.
    completed = mine_gen[-1]["payload"]
    r = await api.get(f"/generations/{generation_id}", as_=user, params={"organization_id": org})
    assert r.status_code == 200
    current = r.json()
    assert {k: completed[k] for k in GENERATION_FIELDS} == {
        k: current[k] for k in GENERATION_FIELDS
    }, "the event was published before the database committed it"
    assert current["status"] == "completed"
    assert len(current["predictions"]) == 2
    assert len({p["seed"] for p in current["predictions"]}) == 2
    assert all(
        p["file_url"].startswith(f"/api/v1/files/{p['media_resource_id']}?exp=")
        for p in current["predictions"]
    )

    # ... and the shot event what GET /shots/{id} answers.
    (shot_event,) = [m for m in received if m["type"] == "shot.updated"]
    shot = (await api.get(f"/shots/{shot_id}", as_=user, params={"organization_id": org})).json()
    assert shot_event["payload"]["status"] == shot["status"] == "in_review"
    assert shot_event["payload"]["current_revision"] == shot["current_revision"]
    assert shot["current_revision"]["generation_id"] == generation_id

    # Another organization's member saw nothing and cannot read the generation.
    await _assert_nothing_leaked(app, other_user, theirs, {generation_id, shot_id})
    for params in ({"organization_id": org}, {"organization_id": other_user.orgs[0]}, {}):
        r = await api.get(f"/generations/{generation_id}", as_=other_user, params=params)
        assert r.status_code == 404, params


async def test_generate_shot_failure_reaches_the_socket(
    api: Api, user: UserHandle, worker: dict[str, Any], open_socket: OpenSocket
) -> None:
    world = await make_shot(api, user)
    org = world["org"]
    mine = await open_socket(user)
    r = await api.post(
        "/generations",
        as_=user,
        params={"organization_id": org},
        json={"shot_id": world["shot_ids"][0], "config": {"sim": {"fail": "boom"}}},
    )
    assert r.status_code == 202, r.text
    generation_id = r.json()["id"]

    received = await _events_until(
        mine, lambda got: any(m["type"] in TERMINAL_TYPES for m in _of(got, generation_id))
    )
    _assert_envelopes(received)
    mine_gen = _of(received, generation_id)
    types = [m["type"] for m in mine_gen]
    statuses = [m["payload"]["status"] for m in mine_gen]
    assert types[0] == "generation.created" and types[-1] == "generation.failed", types
    assert statuses == ["pending"] + ["processing"] * (len(statuses) - 2) + ["failed"]
    assert statuses[1] == "processing"
    failed = mine_gen[-1]
    assert failed["payload"]["status"] == "failed"
    assert failed["payload"]["error_message"] == "boom"
    assert failed["payload"]["error_category"]

    # Reloading on the event shows the failure already (published after the commit).
    current = (
        await api.get(f"/generations/{generation_id}", as_=user, params={"organization_id": org})
    ).json()
    assert {k: failed["payload"][k] for k in GENERATION_FIELDS} == {
        k: current[k] for k in GENERATION_FIELDS
    }, "the event was published before the database committed it"
    # No shot revision for a failure.
    assert not any(m["type"] == "shot.updated" for m in received)
