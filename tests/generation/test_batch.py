"""ShootingGenerationWorkflow through the API: every shot of a shooting generated as child
workflows, one batch per shooting at a time, a bounded number in flight, cancellable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from core.compute import ComputeClient
from core.config import Settings
from models.generation import Generation, GenerationStatus
from tests.generation.conftest import make_shot
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history
from workflows.shooting_generation import ShootingGenerationWorkflow

LIMIT_KEY = "max_concurrent_shot_generations"
TERMINAL = {"completed", "failed", "cancelled"}


async def _start_batch(
    api: Api, user: UserHandle, world: dict[str, Any], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    r = await api.post(
        f"/shootings/{world['shooting']['id']}/generate",
        as_=user,
        params={"organization_id": world["org"]},
        json=body or {},
    )
    assert r.status_code == 202, r.text
    return r.json()


async def _batch_status(api: Api, user: UserHandle, world: dict[str, Any]) -> dict[str, Any]:
    r = await api.get(
        f"/shootings/{world['shooting']['id']}/generate",
        as_=user,
        params={"organization_id": world["org"]},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _batch(
    api: Api, user: UserHandle, world: dict[str, Any], batch_id: str
) -> dict[str, Any]:
    r = await api.get(
        f"/shootings/{world['shooting']['id']}/generations/{batch_id}",
        as_=user,
        params={"organization_id": world["org"]},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _batch_done(api: Api, user: UserHandle, world: dict[str, Any], batch_id: str) -> bool:
    return (await _batch(api, user, world, batch_id))["status"] in TERMINAL


async def _generations(api: Api, user: UserHandle, world: dict[str, Any]) -> list[dict[str, Any]]:
    r = await api.get(
        "/generations/",
        as_=user,
        params={"organization_id": world["org"], "shooting_id": world["shooting"]["id"]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["data"])
    return body["data"]


async def _statuses(app: FastAPI, shooting_id: str) -> dict[str, int]:
    """Generations of the shooting per status, straight from the database."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Generation.status, func.count())
            .where(Generation.shooting_id == uuid.UUID(shooting_id))
            .group_by(Generation.status)
        )
        return {status.value: int(count) for status, count in rows}


async def _until(check: Any, *, within: float, every: float = 0.05) -> Any:
    """Poll the async `check()` until it returns something truthy (bounded)."""
    async with asyncio.timeout(within):
        while not (result := await check()):  # noqa: ASYNC110 (polling the outside world)
            await asyncio.sleep(every)
    return result


@pytest.fixture
async def one_at_a_time(api: Api, superuser: UserHandle) -> AsyncIterator[None]:
    """max_concurrent_shot_generations = 1 for this test, restored afterwards."""
    r = await api.get(f"/admin/settings/{LIMIT_KEY}", as_=superuser)
    assert r.status_code == 200, r.text
    previous = r.json()["value"]
    r = await api.put(f"/admin/settings/{LIMIT_KEY}", as_=superuser, json={"value": 1})
    assert r.status_code == 200, r.text
    try:
        yield
    finally:
        r = await api.put(f"/admin/settings/{LIMIT_KEY}", as_=superuser, json={"value": previous})
        assert r.status_code == 200, r.text


async def test_generate_shooting_completes_every_shot_once(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    world = await make_shot(api, user, shot_types=3)
    shooting_id = world["shooting"]["id"]
    started = await _start_batch(api, user, world, {"config": {"sim": {"latency_ms": 500}}})
    workflow_id = started["workflow_id"]
    assert workflow_id == f"shooting-generation-{started['id']}"  # one id per batch
    assert started["shooting_id"] == shooting_id and started["look_id"] is None
    assert started["temporal_ui_url"].endswith(workflow_id)
    assert started["status"] in ("pending", "running") and started["total"] == 3
    first_run = (await temporal.get_workflow_handle(workflow_id).describe()).run_id

    # A second start while the batch runs finds the running batch.
    again = await _start_batch(api, user, world)
    assert (again["id"], again["workflow_id"]) == (started["id"], workflow_id)
    description = await temporal.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.run_id == first_run

    seen: list[dict[str, Any]] = []

    async def batch_done() -> bool:
        status = await _batch_status(api, user, world)
        seen.append(status)
        return status["status"] == "completed"

    await _until(batch_done, within=30, every=0.1)
    final = seen[-1]
    assert final["workflow_id"] == workflow_id
    assert (final["total"], final["completed"], final["running"]) == (3, 3, 0)
    assert (final["failed"], final["cancelled"]) == (0, 0)
    # Progress was reported while it ran, never beyond the total.
    assert any(s["status"] == "running" and s["running"] > 0 for s in seen), seen
    assert all(s["completed"] <= s["total"] == 3 for s in seen if s["total"]), seen

    generations = await _generations(api, user, world)
    assert len(generations) == 3  # one batch: no second set of generations
    assert {g["status"] for g in generations} == {"completed"}
    assert sorted(g["shot_id"] for g in generations) == sorted(world["shot_ids"])
    assert all(g["autogenerated"] and len(g["predictions"]) == 1 for g in generations)

    r = await api.get(
        "/shots/", as_=user, params={"organization_id": world["org"], "shooting_id": shooting_id}
    )
    shots = r.json()["data"]
    assert len(shots) == 3
    assert {s["status"] for s in shots} == {"in_review"}
    by_shot = {g["shot_id"]: g["id"] for g in generations}
    assert all(s["current_revision"]["generation_id"] == by_shot[s["id"]] for s in shots)
    # The recorded `shooting_generation` history is a run from before batch rows: kept.
    await record_history(temporal.get_workflow_handle(workflow_id), "shooting_generation_batch")

    # Once it ended, a new start is a new batch; both are listed, newest first.
    rerun = await _start_batch(api, user, world)
    assert rerun["id"] != started["id"]
    r = await api.get(
        f"/shootings/{shooting_id}/generations", as_=user, params={"organization_id": world["org"]}
    )
    assert r.status_code == 200, r.text
    assert [b["id"] for b in r.json()["data"]] == [rerun["id"], started["id"]]
    assert r.json()["count"] == 2
    await _until(lambda: _batch_done(api, user, world, rerun["id"]), within=30, every=0.1)


async def test_generate_shooting_keeps_one_generation_in_flight(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    one_at_a_time: None,
) -> None:
    world = await make_shot(api, user, shot_types=3)
    shooting_id = world["shooting"]["id"]
    started = await _start_batch(api, user, world, {"config": {"sim": {"latency_ms": 300}}})
    handle = temporal.get_workflow_handle(started["workflow_id"])

    most_processing = most_running = 0
    samples = 0

    async def batch_done() -> bool:
        nonlocal most_processing, most_running, samples
        statuses = await _statuses(app, shooting_id)
        progress = await handle.query(ShootingGenerationWorkflow.progress)
        samples += 1
        most_processing = max(most_processing, statuses.get("processing", 0))
        most_running = max(most_running, progress.running)
        return progress.completed == 3

    await _until(batch_done, within=30, every=0.02)
    assert samples > 20  # it was watched closely, not just at the end
    assert most_processing == 1, "two generations of the batch were processing at once"
    assert most_running == 1
    assert await _statuses(app, shooting_id) == {"completed": 3}


async def _cancel_stuck_batch(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    temporal: Client,
    gen_settings: Settings,
    *,
    running: int,
    via_api: bool = False,
) -> None:
    """A 3-shot batch whose compute tasks never end, cancelled once `running` of them are
    processing (the rest queued): every generation ends `cancelled`, no task keeps running."""
    world = await make_shot(api, user, shot_types=3)
    shooting_id = world["shooting"]["id"]
    started = await _start_batch(api, user, world, {"config": {"sim": {"stuck": True}}})
    handle = temporal.get_workflow_handle(started["workflow_id"])
    expected = {"processing": running} | ({"pending": 3 - running} if running < 3 else {})

    async def settled() -> bool:
        if await _statuses(app, shooting_id) != expected:
            return False
        submitted = [g for g in await _generations(api, user, world) if g["compute_task_id"]]
        return len(submitted) == running

    await _until(settled, within=30)
    submitted = [g for g in await _generations(api, user, world) if g["compute_task_id"]]
    if via_api:
        r = await api.post(
            f"/shootings/{shooting_id}/generations/{started['id']}/cancel",
            as_=user,
            params={"organization_id": world["org"]},
        )
        assert r.status_code == 202, r.text
        assert r.json()["id"] == started["id"]
    else:
        await handle.cancel()  # from the Temporal UI, say: ends the same way

    async def all_ended() -> bool:
        statuses = await _statuses(app, shooting_id)
        return sum(statuses.get(s, 0) for s in TERMINAL) == 3

    await _until(all_ended, within=30)
    generations = await _generations(api, user, world)
    assert {g["status"] for g in generations} == {GenerationStatus.CANCELLED.value}
    assert {g["error_category"] for g in generations} == {"cancelled"}
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), 10)
    assert isinstance(failure.value.cause, CancelledError)
    status = await _batch_status(api, user, world)
    assert status["status"] == "cancelled"
    assert (status["total"], status["running"], status["cancelled"]) == (3, 0, 3)
    # A batch that ended cannot be cancelled again.
    r = await api.post(
        f"/shootings/{shooting_id}/generations/{started['id']}/cancel",
        as_=user,
        params={"organization_id": world["org"]},
    )
    assert r.status_code == 409, r.text

    # The compute tasks that were submitted were cancelled too, not left running.
    compute = ComputeClient.from_settings(gen_settings)
    try:
        states = [await compute.get_task(g["compute_task_id"]) for g in submitted]
    finally:
        await compute.aclose()
    assert [s.status for s in states] == ["cancelled"] * running


async def test_cancel_shooting_generation_cancels_running_children(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    gen_settings: Settings,
) -> None:
    await _cancel_stuck_batch(api, app, user, temporal, gen_settings, running=3)


async def test_cancel_shooting_generation_cancels_queued_generations(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    gen_settings: Settings,
    one_at_a_time: None,
) -> None:
    await _cancel_stuck_batch(api, app, user, temporal, gen_settings, running=1, via_api=True)
