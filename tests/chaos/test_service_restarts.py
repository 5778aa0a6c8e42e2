"""Backing services going away mid-run: Redis restarted, Postgres restarted, S3 unreachable
for 20 s while outputs are being copied into the bucket. Nothing may be lost: every run
completes with its outputs stored and recorded once, and WebSocket clients (one that keeps
its socket, one whose socket the outage cut) receive every generation.completed exactly once.

The services are this module's own (devstack, not ephemeral: production Postgres and Redis
persist), so the session's services, which other tests use, are never disturbed; the API
runs on uvicorn and the production worker in this process (tests/chaos/restart_support.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client

from core.config import Settings
from models.media import MediaResource
from tests.chaos.conftest import ChaosReport
from tests.chaos.restart_support import LiveStack, ReplayingSocket, live_stack
from tests.generation.conftest import make_shot, wait_status
from tests.generation.support import eventually, org_events, outcome_counts, start_via_api
from tests.helpers import UserHandle

DONE = {"completed", "failed", "cancelled"}
BATCH = 2
RUNS = 4  # generations per scenario
RESTART_DOWN_SECONDS = 3.0  # how long Redis / Postgres stay down in their restart
S3_DOWN_SECONDS = 20.0


@dataclass
class World:
    live: LiveStack
    user: UserHandle
    org: str
    shot_ids: list[str]
    sockets: list[ReplayingSocket]
    all_runs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def world(
    settings: Settings, temporal: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    state_dir: Path = tmp_path_factory.mktemp("restarts") / "stack"
    async with live_stack(settings, temporal, state_dir) as live:
        user = await live.api.new_user()
        shot = await make_shot(live.api, user, shot_types=3 * RUNS)
        sockets = [
            ReplayingSocket(live.base_url, user, "steady"),
            ReplayingSocket(live.base_url, user, "cut"),
        ]
        for socket in sockets:
            await socket.start()
        try:
            yield World(live, user, shot["org"], list(shot["shot_ids"]), sockets)
        finally:
            for socket in sockets:
                await socket.stop()


async def _start(w: World, latency_ms: int, progress_steps: int = 2) -> str:
    started = await start_via_api(
        w.live.api,
        w.user,
        w.org,
        w.shot_ids.pop(),
        batch_size=BATCH,
        config={"sim": {"latency_ms": latency_ms, "progress_steps": progress_steps}},
    )
    w.all_runs.append(started["id"])
    return started["id"]


async def _all_processing(w: World, ids: list[str]) -> None:
    async def probe() -> bool:
        for gid in ids:
            r = await w.live.api.get(
                f"/generations/{gid}", as_=w.user, params={"organization_id": w.org}
            )
            body = r.json()
            assert body["status"] not in DONE, body  # the outage must land mid-run
            if body["status"] != "processing" or not body["compute_task_id"]:
                return False
        return True

    await eventually(probe, within=20, what="every generation processing")


async def _retried_activities(w: World, ids: list[str]) -> int:
    """Activity attempts beyond the first in the runs' histories: proof that the outage hit
    the runs' work and was survived by retrying, not merely waited out."""
    retried = 0
    for gid in ids:
        history = await w.live.temporal.get_workflow_handle(f"generation-{gid}").fetch_history()
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                retried += event.activity_task_started_event_attributes.attempt > 1
    return retried


async def _mid_run(w: World) -> list[str]:
    """RUNS generations whose compute tasks report progress every ~0.3-0.5 s (each report
    is written to Postgres and published on Redis) and end at staggered times, some inside
    the outage, some after it."""
    ids = [await _start(w, 2500 + 700 * i, progress_steps=8) for i in range(RUNS)]
    await _all_processing(w, ids)
    return ids


async def _objects_missing(live: LiveStack, media_ids: set[uuid.UUID]) -> int:
    async with live.app.state.sessionmaker() as session:
        keys = (
            await session.scalars(
                select(MediaResource.storage_key).where(MediaResource.id.in_(media_ids))
            )
        ).all()
    missing = len(media_ids) - len(keys)
    for key in keys:
        if await asyncio.to_thread(live.app.state.store.head, key) is None:
            missing += 1
    return missing


async def _outcome(
    w: World, scenario: str, ids: list[str], report: ChaosReport, check_objects: list[str]
) -> None:
    """Wait for every run, then record and check: status, predictions, stored objects, the
    org's event stream and what each socket received."""
    api, live = w.live.api, w.live
    finals = [await wait_status(api, w.user, w.org, gid, DONE, within=75) for gid in ids]

    async def sockets_caught_up() -> bool:
        return all(s.events("completed", gid) for s in w.sockets for gid in ids)

    # Bounded wait: a socket that never gets an event is counted as lost below, not hung on.
    with contextlib.suppress(AssertionError):
        await eventually(sockets_caught_up, within=15, what="every socket got every completion")

    duplicates = lost = completed = 0
    details: dict[str, Any] = {}
    for body in finals:
        gid = body["id"]
        counts = await outcome_counts(live.app, gid)
        stream_events = len(await org_events(live.app.state.redis, w.org, "completed", gid))
        per_socket = [len(s.events("completed", gid)) for s in w.sockets]
        details[gid] = (body["status"], counts["predictions"], stream_events, per_socket)
        ok = body["status"] == "completed" and counts["predictions"] == BATCH
        duplicates += max(counts["predictions"] - BATCH, 0) + max(stream_events - 1, 0)
        duplicates += sum(max(n - 1, 0) for n in per_socket)
        if ok and stream_events >= 1 and all(per_socket):
            completed += 1
        else:
            lost += 1
    media = set()
    for gid in check_objects:
        media |= (await outcome_counts(live.app, gid))["media_ids"]
    missing_objects = await _objects_missing(live, media)
    lost += missing_objects

    report.record(scenario, runs=len(ids), completed=completed, duplicates=duplicates, lost=lost)
    assert missing_objects == 0, f"{missing_objects} stored outputs are not in the bucket"
    assert (completed, duplicates, lost) == (len(ids), 0, 0), details
    for gid in ids:
        counts = await outcome_counts(live.app, gid)
        assert counts["keys"] == [(1, i) for i in range(BATCH)], counts
        assert counts["media_rows"] == BATCH and counts["revisions"] == 1, counts


async def _outage(
    w: World, service: str, down: float, while_down: Callable[[], Awaitable[None]] | None = None
) -> float:
    """Stop `service`, cut the second socket, run `while_down`, keep it down `down` seconds
    in all, start it again in place; returns how long it was really down."""
    stack = w.live.stack
    began = time.monotonic()
    await asyncio.to_thread(stack.stop_service, service)
    await w.sockets[1].drop()
    if while_down is not None:
        await while_down()
    await asyncio.sleep(max(0.0, down - (time.monotonic() - began)))
    await asyncio.to_thread(stack.start_service, service)
    return time.monotonic() - began


async def test_redis_restarted_mid_run_loses_nothing(w: World, chaos_report: ChaosReport) -> None:
    connects = [s.connects for s in w.sockets]
    failed_connects = w.sockets[1].failed_connects
    hub = w.live.app.state.event_hub
    ids = await _mid_run(w)
    hub_disconnects = hub.stats.disconnects
    await _outage(w, "redis", RESTART_DOWN_SECONDS)

    await _outcome(w, "redis restarted mid-run", ids, chaos_report, ids)
    assert await _retried_activities(w, ids) > 0  # event publishing failed meanwhile
    assert hub.stats.disconnects > hub_disconnects  # the outage did reach the API
    # The cut socket was refused while Redis was down, came back and replayed...
    assert w.sockets[1].failed_connects > failed_connects
    assert w.sockets[1].connects > connects[1]
    assert w.sockets[0].connects == connects[0]  # ...the other one never noticed


@pytest.fixture
def w(world: World) -> World:
    return world


async def test_postgres_restarted_mid_run_loses_nothing(
    w: World, chaos_report: ChaosReport
) -> None:
    connects = w.sockets[1].connects
    failed_connects = w.sockets[1].failed_connects
    ids = await _mid_run(w)
    await _outage(w, "postgres", RESTART_DOWN_SECONDS)

    await _outcome(w, "postgres restarted mid-run", ids, chaos_report, ids)
    assert await _retried_activities(w, ids) > 0  # database writes failed meanwhile
    # Refused ("retry later") while Postgres was down, authenticated again once it was back.
    assert w.sockets[1].failed_connects > failed_connects
    assert w.sockets[1].connects > connects


async def _ingesting_during_outage(w: World, ids: list[str]) -> None:
    """Every run is copying its outputs into the bucket and has failed doing so at least
    once: the outage really hit ingestion."""
    temporal = w.live.temporal

    async def failing_to_store() -> bool:
        for gid in ids:
            description = await temporal.get_workflow_handle(f"generation-{gid}").describe()
            pending = description.raw_description.pending_activities
            if not any(
                a.activity_type.name == "generation.store_outputs" and a.attempt >= 2
                for a in pending
            ):
                return False
        return True

    await eventually(
        failing_to_store, within=S3_DOWN_SECONDS - 5, what="store_outputs failing", every=0.5
    )


async def test_s3_unreachable_during_ingestion_loses_nothing(
    w: World, chaos_report: ChaosReport
) -> None:
    connects = w.sockets[1].connects
    stack = w.live.stack
    began = time.monotonic()
    await asyncio.to_thread(stack.stop_service, "s3")
    try:
        await w.sockets[1].drop()
        # Compute keeps working (its outputs are in its own storage); our bucket is gone
        # exactly when the outputs are to be copied into it.
        ids = [await _start(w, 300) for _ in range(RUNS)]
        await _ingesting_during_outage(w, ids)
        await asyncio.sleep(max(0.0, S3_DOWN_SECONDS - (time.monotonic() - began)))
    finally:
        await asyncio.to_thread(stack.start_service, "s3")
    down = time.monotonic() - began
    assert down >= S3_DOWN_SECONDS

    # Every output stored so far, the earlier scenarios' too, is still in the bucket.
    await _outcome(
        w, f"s3 unreachable {S3_DOWN_SECONDS:.0f}s during ingestion", ids, chaos_report, w.all_runs
    )
    assert w.sockets[1].connects > connects
