"""Batches planned a page at a time: the plan activity (idempotent, ids from batch and shot,
approved shots skipped), and batches that continue as new across several runs, run every
child exactly once, and cancel all of it (running, queued and never planned)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment

from activities.batch import BatchActivities
from compute_sim import ComputeSimServer
from core.config import Settings
from core.starts import start_generation
from models.generation import Generation
from models.shooting_generation import ShootingGeneration
from models.shot import RevisionStatus, Shot
from services import batch_plan
from services import shots as shot_service
from tests.generation.support import closed_runs, sim_tasks
from tests.helpers import Api, UserHandle, eventually
from tests.workflows.conftest import record_history
from workflows.batch_types import BatchCounts, BatchProgress, CancelRestInput, PlanPageInput
from workflows.shooting_generation import ShootingGenerationWorkflow

LIMIT_KEY = "max_concurrent_shot_generations"


async def _shooting(api: Api, user: UserHandle, *, looks: int, shot_types: int) -> dict[str, Any]:
    """A shooting of `looks` looks with one shot per shot type each."""
    org = user.orgs[0]
    types = [
        (await api.create("/shot-types/", {"name": f"Angle {i}"}, as_=user, org=org))["id"]
        for i in range(shot_types)
    ]
    shooting = await api.create("/shootings/", {"name": "Resort 28"}, as_=user, org=org)
    shot_ids: list[str] = []
    for _ in range(looks):
        product = await api.create(
            "/products/", {"name": "Linen shirt", "sku": uuid.uuid4().hex[:8]}, as_=user, org=org
        )
        look = await api.create(
            f"/shootings/{shooting['id']}/looks",
            {"main_product_id": product["id"], "shot_type_ids": types, "width": 128, "height": 160},
            as_=user,
            org=org,
        )
        shot_ids += look["shot_ids"]
    return {"org": org, "shooting": shooting, "shot_ids": shot_ids}


@pytest.fixture
def small_pages(app: FastAPI) -> Iterator[None]:
    """Batches started by the API plan 2 shots a page and continue as new every 2 pages."""
    previous = app.state.settings
    app.state.settings = previous.model_copy(
        update={"BATCH_PAGE_SIZE": 2, "BATCH_PAGES_PER_RUN": 2}
    )
    try:
        yield
    finally:
        app.state.settings = previous


@pytest.fixture
async def window(api: Api, superuser: UserHandle) -> AsyncIterator[Any]:
    """Sets max_concurrent_shot_generations for the test, restored afterwards."""
    r = await api.get(f"/admin/settings/{LIMIT_KEY}", as_=superuser)
    previous = r.json()["value"]

    async def set_to(value: int) -> None:
        r = await api.put(f"/admin/settings/{LIMIT_KEY}", as_=superuser, json={"value": value})
        assert r.status_code == 200, r.text

    yield set_to
    await set_to(previous)


async def _start(api: Api, user: UserHandle, world: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(
        f"/shootings/{world['shooting']['id']}/generate",
        as_=user,
        params={"organization_id": world["org"]},
        json={},
    )
    assert r.status_code == 202, r.text
    return r.json()


async def _batch(api: Api, user: UserHandle, world: dict[str, Any], batch_id: str) -> dict:
    r = await api.get(
        f"/shootings/{world['shooting']['id']}/generations/{batch_id}",
        as_=user,
        params={"organization_id": world["org"]},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _batch_generations(app: FastAPI, batch_id: str) -> list[Generation]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Generation).where(Generation.shooting_generation_id == uuid.UUID(batch_id))
        )
        return list(rows)


async def _child_runs(temporal: Client, shooting_id: str, expected: int) -> Counter[str]:
    """How many runs each generation workflow of the shooting had (once visibility lists
    `expected` distinct ones, all closed)."""
    query = f"ShootingId = '{shooting_id}' AND EntityType = 'generation'"

    async def listed() -> Counter[str] | None:
        runs = [r async for r in temporal.list_workflows(query)]
        if any(r.status == WorkflowExecutionStatus.RUNNING for r in runs):
            return None
        counts = Counter(r.id for r in runs)
        return counts if len(counts) >= expected else None

    return await eventually(listed, within=30, what="the batch's child runs", every=0.2)


# --- the plan activity -------------------------------------------------------------------


@pytest.fixture
async def batch_activities(settings: Settings, app: FastAPI) -> AsyncIterator[BatchActivities]:
    redis = Redis.from_url(settings.REDIS_URL)
    yield BatchActivities(settings=settings, sessionmaker=app.state.sessionmaker, redis=redis)
    await redis.aclose()


async def test_plan_pages_are_idempotent_and_skip_approved_shots(
    api: Api, app: FastAPI, user: UserHandle, batch_activities: BatchActivities
) -> None:
    world = await _shooting(api, user, looks=2, shot_types=3)  # 6 shots
    org, owner = uuid.UUID(world["org"]), uuid.UUID(user.id)
    # Pages follow (look, shot id); the 5th shot in that order is already approved.
    expected = [
        s for _look, s in sorted([(await _shot_look(app, s), s) for s in world["shot_ids"]])
    ]
    async with app.state.sessionmaker() as session:
        approved = await session.get(Shot, uuid.UUID(expected[4]))
        assert approved is not None
        await shot_service.create_revision(
            session, approved, generation_id=None, status=RevisionStatus.APPROVED
        )
        batch = ShootingGeneration(
            organization_id=org,
            owner_id=owner,
            requested_by=owner,
            shooting_id=uuid.UUID(world["shooting"]["id"]),
            request={"batch_size": 1},
            only_missing=True,
            total=6,
        )
        session.add(batch)
        await session.commit()
    batch_id = str(batch.id)

    pages, after = [], None
    while True:
        page = await batch_activities.plan_page(
            PlanPageInput(batch_id=batch_id, after=after, limit=4, counts=BatchCounts())
        )
        # The same page again (a retried activity): the same generations, nothing new.
        again = await batch_activities.plan_page(
            PlanPageInput(batch_id=batch_id, after=after, limit=4, counts=BatchCounts())
        )
        assert again.items == page.items and again.cursor == page.cursor
        pages.append(page)
        after = page.cursor
        if page.done:
            break
    assert [len(p.items) for p in pages] == [4, 1]  # 6 shots, 4 a page, one approved
    assert [p.skipped for p in pages] == [0, 1] and [p.done for p in pages] == [False, True]
    assert {p.total for p in pages} == {6}
    planned = [i for p in pages for i in p.items]
    # In (look, shot) order, the approved shot left out.
    assert [i.shot_id for i in planned] == expected[:4] + expected[5:]
    for item in planned:  # ids from (batch, shot): the same whichever run plans them
        assert item.generation_id == str(batch_plan.generation_id(batch_id, item.shot_id))
    rows = await _batch_generations(app, batch_id)
    assert len(rows) == 5 and {r.status.value for r in rows} == {"pending"}
    assert {str(r.id) for r in rows} == {i.generation_id for i in planned}
    assert all(r.autogenerated and r.owner_id == owner for r in rows)
    async with app.state.sessionmaker() as session:
        row = await session.get(ShootingGeneration, batch.id)
        assert row is not None and row.status.value == "running" and row.started_at


async def _shot_look(app: FastAPI, shot_id: str) -> str:
    async with app.state.sessionmaker() as session:
        shot = await session.get(Shot, uuid.UUID(shot_id))
        assert shot is not None
        return str(shot.look_id)


# --- continue-as-new ---------------------------------------------------------------------


async def test_batch_continues_as_new_and_runs_every_child_once(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    sim: ComputeSimServer,
    small_pages: None,
    window: Any,
) -> None:
    await window(2)
    world = await _shooting(api, user, looks=3, shot_types=3)  # 9 shots
    started = await _start(api, user, world)
    batch_id, workflow_id = started["id"], started["workflow_id"]
    assert started["total"] == 9

    async def ended() -> dict | None:
        batch = await _batch(api, user, world, batch_id)
        return batch if batch["status"] in ("completed", "failed", "cancelled") else None

    final = await eventually(ended, within=90, what="the batch to end", every=0.2)
    assert final["status"] == "completed", final
    counts = [final[k] for k in ("total", "completed", "failed", "cancelled", "skipped")]
    assert counts == [9, 9, 0, 0, 0]
    assert (final["pending"], final["running"]) == (0, 0)

    # 9 shots at 2 a page and 2 pages a run: runs of 4, 4 and 1 shots.
    runs = await closed_runs(temporal, workflow_id)
    assert [r.status for r in runs] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * 2 + [
        WorkflowExecutionStatus.COMPLETED
    ]
    result = await temporal.get_workflow_handle(workflow_id, result_type=BatchProgress).result()
    assert (result.runs, result.completed, result.planned, result.total) == (2, 9, 9, 9)

    # One generation per shot, each run exactly once, by this batch.
    rows = await _batch_generations(app, batch_id)
    assert sorted(str(r.shot_id) for r in rows) == sorted(world["shot_ids"])
    assert {r.status.value for r in rows} == {"completed"} and {r.attempt for r in rows} == {1}
    child_runs = await _child_runs(temporal, world["shooting"]["id"], len(rows))
    assert child_runs == Counter({f"generation-{r.id}": 1 for r in rows})
    assert all(len(sim_tasks(sim, str(r.id), "generation")) == 1 for r in rows)

    first = temporal.get_workflow_handle(workflow_id, run_id=runs[0].run_id)
    await record_history(first, "shooting_generation_pages_continued_as_new")
    await record_history(temporal.get_workflow_handle(workflow_id), "shooting_generation_pages")


async def test_cancel_reaches_every_run_and_every_generation(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    knobs: ComputeSimServer,
    gen_settings: Settings,
    small_pages: None,
    window: Any,
) -> None:
    await window(1)
    knobs.config = knobs.config.merged({"latency_ms": 150})
    world = await _shooting(api, user, looks=4, shot_types=4)  # 16 shots, 4 a run
    started = await _start(api, user, world)
    batch_id, workflow_id = started["id"], started["workflow_id"]
    handle = temporal.get_workflow_handle(workflow_id)

    async def third_run() -> bool:
        return (await handle.query(ShootingGenerationWorkflow.progress)).runs >= 2

    # Two continue-as-new boundaries crossed: from here every new compute task hangs.
    await eventually(third_run, within=90, what="the batch's third run", every=0.05)
    knobs.config = knobs.config.merged({"stuck_rate": 1.0})

    async def stuck() -> bool:
        rows = await _batch_generations(app, batch_id)
        status = Counter(r.status.value for r in rows)
        hung = [r for r in rows if r.status.value == "processing" and r.compute_task_id]
        return bool(hung) and status["pending"] >= 1 and _stuck(knobs, hung[0].id)

    await eventually(stuck, within=60, what="a hung child and a queued generation")
    r = await api.post(
        f"/shootings/{world['shooting']['id']}/generations/{batch_id}/cancel",
        as_=user,
        params={"organization_id": world["org"]},
    )
    assert r.status_code == 202, r.text

    async def ended() -> dict | None:
        batch = await _batch(api, user, world, batch_id)
        return batch if batch["status"] != "running" else None

    final = await eventually(ended, within=60, what="the batch to end")
    assert final["status"] == "cancelled", final
    rows = await _batch_generations(app, batch_id)
    status = Counter(r.status.value for r in rows)
    assert set(status) == {"completed", "cancelled"}, status  # nothing left pending/running
    assert status["completed"] >= 8  # the first two runs' generations
    assert len(rows) < 16  # shots never planned have no generation
    never_started = [r for r in rows if r.status.value == "cancelled" and r.started_at is None]
    assert never_started and all(r.compute_task_id is None for r in never_started)
    assert all(r.error_category == "cancelled" for r in rows if r.status.value == "cancelled")
    cancelled_running = [r for r in rows if r.status.value == "cancelled" and r.compute_task_id]
    assert cancelled_running, "the hung child was not cancelled"
    for row in cancelled_running:  # its compute task was cancelled too
        assert sim_tasks(knobs, str(row.id), "generation")[-1].status == "cancelled"
    counts = [final[k] for k in ("total", "completed", "cancelled", "failed")]
    assert counts == [16, status["completed"], status["cancelled"], 0]

    runs = await closed_runs(temporal, workflow_id)
    assert [r.status for r in runs[:2]] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * 2
    assert runs[-1].status == WorkflowExecutionStatus.CANCELED
    started_rows = [r for r in rows if r.started_at]
    child_runs = await _child_runs(temporal, world["shooting"]["id"], len(started_rows))
    assert set(child_runs.values()) == {1}
    assert set(child_runs) == {f"generation-{r.id}" for r in started_rows}
    async with app.state.sessionmaker() as session:  # nothing is left for a reconciler
        left = await session.scalar(
            select(func.count())
            .select_from(Generation)
            .where(
                Generation.shooting_generation_id == uuid.UUID(batch_id),
                Generation.status.in_(["pending", "processing"]),
            )
        )
    assert left == 0
    await record_history(handle, "shooting_generation_pages_cancelled")


def _stuck(sim: ComputeSimServer, generation_id: uuid.UUID) -> bool:
    tasks = sim_tasks(sim, str(generation_id), "generation")
    return bool(tasks) and tasks[-1].plan.stuck


# --- a batch whose workflow is gone -------------------------------------------------------


async def _orphan_batch(app: FastAPI, user: UserHandle, world: dict[str, Any]) -> str:
    """A running batch row with a planned generation and no workflow (its run terminated,
    say), created long enough ago to be past its start."""
    then = datetime.now(UTC) - timedelta(minutes=5)
    org, owner = uuid.UUID(world["org"]), uuid.UUID(user.id)
    async with app.state.sessionmaker() as session:
        batch = ShootingGeneration(
            organization_id=org,
            owner_id=owner,
            requested_by=owner,
            shooting_id=uuid.UUID(world["shooting"]["id"]),
            status="running",
            total=1,
            created_at=then,
        )
        batch.workflow_id = f"shooting-generation-{batch.id}"
        session.add(batch)
        await session.flush()
        session.add(
            Generation(
                id=batch_plan.generation_id(batch.id, world["shot_ids"][0]),
                organization_id=org,
                owner_id=owner,
                shot_id=uuid.UUID(world["shot_ids"][0]),
                shooting_id=batch.shooting_id,
                shooting_generation_id=batch.id,
                autogenerated=True,
            )
        )
        await session.commit()
    return str(batch.id)


async def test_a_batch_without_workflow_is_ended_not_left_running(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any]
) -> None:
    world = await _shooting(api, user, looks=1, shot_types=1)
    params = {"organization_id": world["org"]}

    # Cancelled: nothing runs it, so the API ends it, its planned generation too.
    lost = await _orphan_batch(app, user, world)
    r = await api.post(
        f"/shootings/{world['shooting']['id']}/generations/{lost}/cancel", as_=user, params=params
    )
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["cancelled"]) == ("cancelled", 1)
    assert [g.status.value for g in await _batch_generations(app, lost)] == ["cancelled"]

    # Started again: the lost batch no longer blocks the shooting; it ends `failed`.
    lost = await _orphan_batch(app, user, world)
    started = await _start(api, user, world)
    assert started["id"] != lost
    old = await _batch(api, user, world, lost)
    assert old["status"] == "failed" and "without finishing" in old["error_message"]
    assert [g.status.value for g in await _batch_generations(app, lost)] == ["cancelled"]

    async def ended() -> dict | None:
        batch = await _batch(api, user, world, started["id"])
        return batch if batch["status"] == "completed" else None

    final = await eventually(ended, within=60, what="the new batch to complete")
    assert (final["total"], final["completed"]) == (1, 1)


async def test_cancel_rest_returns_once_the_runs_it_cancelled_have_ended(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    knobs: ComputeSimServer,
    batch_activities: BatchActivities,
) -> None:
    """A processing generation that is no child of the batch's window (a person's retry, or
    a child whose start the cancel overtook) is asked to cancel; the batch's counts are read
    and its run closes right after, so its cleanup must have landed by then (the chaos batch
    once counted 12 cancelled of 13)."""
    world = await _shooting(api, user, looks=1, shot_types=1)
    batch_id = await _orphan_batch(app, user, world)
    generation_id = batch_plan.generation_id(uuid.UUID(batch_id), world["shot_ids"][0])
    knobs.config = knobs.config.merged({"stuck_rate": 1.0})
    handle = await start_generation(
        temporal,
        generation_id=generation_id,
        organization_id=uuid.UUID(world["org"]),
        owner_id=uuid.UUID(user.id),
        shooting_id=uuid.UUID(world["shooting"]["id"]),
    )

    async def hung() -> bool:
        rows = await _batch_generations(app, batch_id)
        return rows[0].status.value == "processing" and _stuck(knobs, rows[0].id)

    await eventually(hung, within=60, what="the generation hanging on compute")
    result = await ActivityEnvironment(client=temporal).run(
        batch_activities.cancel_rest, CancelRestInput(batch_id=batch_id)
    )
    assert (result.cancelled, result.cancel_requested) == (0, 1)
    # Already ended when cancel_rest returns: no wait here.
    assert [g.status.value for g in await _batch_generations(app, batch_id)] == ["cancelled"]
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert sim_tasks(knobs, str(generation_id), "generation")[-1].status == "cancelled"
