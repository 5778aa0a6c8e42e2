"""Predictions from submission on, and where a generation's time went (issue 15).

`batch_size` pending predictions exist from the POST (the response and the first event
carry them), turn `generating` with the task's progress and `completed` (the same rows: no
second row per output) or `error`; a retried activity or a duplicate adds nothing. Every
ended generation shows its timings (queued, compute, ingest, total seconds).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.generation import GenerationActivities
from models.generation import Generation, GenerationStatus, Prediction, ShotGenerateRequest
from services import generations, predictions
from services.tenancy import Scope
from tests.generation.conftest import make_shot, wait_status
from tests.generation.test_realtime_flow import (  # noqa: F401 (fixtures)
    OpenSocket,
    _events_until,
    _of,
    live_url,
    open_socket,
)
from tests.generation.test_recording import _record
from tests.helpers import Api, UserHandle
from workflows.types import CompleteInput, ProgressInput, RecordAndCompleteInput

FIGURES = {"queued", "compute", "ingest", "total"}


def _statuses(payload: dict[str, Any]) -> list[str]:
    return [p["status"] for p in payload["predictions"]]


def _assert_timings(timings: dict[str, float] | None, *, computed: bool) -> None:
    assert timings is not None and set(timings) == FIGURES, timings
    assert all(value >= 0 for value in timings.values()), timings
    parts = timings["queued"] + timings["compute"] + timings["ingest"]
    assert timings["total"] + 0.05 >= parts, timings  # the parts never exceed the whole
    assert timings["total"] < 120, timings
    if computed:
        assert timings["compute"] > 0, timings


async def _count(app: FastAPI, generation_id: str) -> int:
    async with app.state.sessionmaker() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.generation_id == uuid.UUID(generation_id))
        )
    return int(found or 0)


async def test_pending_placeholders_from_the_post_to_completed(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    open_socket: OpenSocket,  # noqa: F811 (the fixture imported above)
) -> None:
    world = await make_shot(api, user)
    org, shot_id = world["org"], world["shot_ids"][0]
    socket = await open_socket(user)
    r = await api.post(
        f"/shots/{shot_id}/generate",
        as_=user,
        params={"organization_id": org},
        # slow enough for progress reports while the task runs
        json={"batch_size": 3, "config": {"sim": {"latency_ms": 2000, "progress_steps": 4}}},
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert _statuses(started) == ["pending"] * 3
    assert [p["attempt"] for p in started["predictions"]] == [1, 1, 1]
    assert started["timings"] is None
    pending_ids = [p["id"] for p in started["predictions"]]

    received = await _events_until(
        socket, lambda got: any(m["type"] == "generation.completed" for m in got), within=60
    )
    mine = _of(received, started["id"])
    assert mine[0]["type"] == "generation.created"
    assert _statuses(mine[0]["payload"]) == ["pending"] * 3  # N placeholders at once
    updates = [m["payload"] for m in mine if m["type"] == "generation.updated"]
    generating = [u for u in updates if set(_statuses(u)) == {"generating"}]
    assert generating, [_statuses(u) for u in updates]
    assert all(p["progress"] == u["progress"] for u in generating for p in u["predictions"])
    completed = mine[-1]["payload"]
    assert completed["status"] == "completed"
    assert _statuses(completed) == ["completed"] * 3
    # The placeholders became the outputs: the same rows, none added.
    assert [p["id"] for p in completed["predictions"]] == pending_ids
    assert all(p["media_resource_id"] and p["progress"] == 1.0 for p in completed["predictions"])
    assert await _count(app, started["id"]) == 3

    done = await wait_status(api, user, org, started["id"], {"completed"})
    _assert_timings(done["timings"], computed=True)
    assert done["timings"]["compute"] >= 1.5, done["timings"]  # the sim's 2 s latency
    assert done["timings"]["compute"] < done["timings"]["total"], done["timings"]


async def test_a_failed_generation_ends_its_predictions_in_error(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any]
) -> None:
    world = await make_shot(api, user)
    org, shot_id = world["org"], world["shot_ids"][0]
    r = await api.post(
        f"/shots/{shot_id}/generate",
        as_=user,
        params={"organization_id": org},
        json={"batch_size": 2, "config": {"sim": {"fail": "out of GPUs"}}},
    )
    assert r.status_code == 202, r.text
    assert _statuses(r.json()) == ["pending"] * 2
    done = await wait_status(api, user, org, r.json()["id"], {"completed", "failed"})
    assert done["status"] == "failed", done
    assert _statuses(done) == ["error"] * 2
    _assert_timings(done["timings"], computed=False)
    assert await _count(app, done["id"]) == 2


async def test_retried_activities_and_duplicates_add_no_prediction(
    api: Api, app: FastAPI, user: UserHandle, activities: GenerationActivities
) -> None:
    world = await make_shot(api, user)
    shot_id = uuid.UUID(world["shot_ids"][0])
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(world["org"]), role=None)
    async with app.state.sessionmaker() as session, session.begin():
        row = await generations.create_for_shot(
            session, scope, shot_id, ShotGenerateRequest(batch_size=2)
        )
        await predictions.ensure_pending(session, row, try_number=1)  # a repeated submission
        row.status = GenerationStatus.PROCESSING
        generation_id = str(row.id)
    assert await _count(app, generation_id) == 2
    environment = ActivityEnvironment()
    progress = ProgressInput(generation_id=generation_id, progress=0.5)
    for _ in range(2):  # a duplicate event / a retried activity
        await environment.run(activities.record_progress, progress)
    async with app.state.sessionmaker() as session:
        statuses = (
            await session.scalars(
                select(Prediction.status).where(Prediction.generation_id == row.id)
            )
        ).all()
    assert sorted(statuses) == ["generating", "generating"]

    # Compute returned one of the two outputs: that row completes, the other ends `error`.
    record = await _record(activities, app, user, world["org"], generation_id, 7)
    data = RecordAndCompleteInput(
        record=record, complete=CompleteInput(generation_id=generation_id, best_try=1)
    )
    await environment.run(activities.record_and_complete, data)
    async with app.state.sessionmaker() as session:
        first = await session.get(Generation, row.id)
        assert first is not None
        timings = first.timings
    await environment.run(activities.record_and_complete, data)  # retried after its commit

    r = await api.get(
        f"/generations/{generation_id}", as_=user, params={"organization_id": world["org"]}
    )
    body = r.json()
    assert body["status"] == "completed"
    assert _statuses(body) == ["completed", "error"]
    assert body["predictions"][0]["media_resource_id"] == record.outputs[0].media_id
    assert await _count(app, generation_id) == 2
    assert body["timings"] == timings  # set once, as it ended
    _assert_timings(body["timings"], computed=False)
