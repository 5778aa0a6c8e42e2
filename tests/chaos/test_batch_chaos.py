"""A 200-shot batch while its worker is SIGKILLed twice, then cancelled halfway (issue 13):
every child ends `completed` or `cancelled`, none runs twice, none is left `processing`,
and no workflow of the batch stays open.

The worker is the production process (`worker.py`) on its own task queues; the API starts
the batch through its public route with a small page size, so the batch also crosses
continue-as-new boundaries while it is killed and cancelled.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from compute_sim import ComputeSimServer
from core.config import Settings
from models.generation import Generation, GenerationStatus, Prediction
from models.shot import ShotRevision
from tests.chaos.conftest import ChaosReport
from tests.helpers import Api, UserHandle, WorkerProcess, eventually

LOOKS, SHOT_TYPES = 10, 20
SHOTS = LOOKS * SHOT_TYPES
KILL_AT = (30, 70)  # ended children at which the worker is SIGKILLed
# Halfway, off the continue-as-new boundaries (every 50: page size 25 x 2 pages a run),
# so the cancel lands on a run with children in flight and a page still queued.
CANCEL_AT = 110
ENDED = {"completed", "failed", "cancelled"}


async def _shooting(api: Api, user: UserHandle) -> tuple[str, str]:
    """A shooting of LOOKS looks x SHOT_TYPES shot types: (organization id, shooting id)."""
    org = user.orgs[0]
    product = await api.create(
        "/products/", {"name": "Linen suit", "sku": uuid.uuid4().hex[:8]}, as_=user, org=org
    )
    types = [
        (await api.create("/shot-types/", {"name": f"Angle {i}"}, as_=user, org=org))["id"]
        for i in range(SHOT_TYPES)
    ]
    shooting = await api.create("/shootings/", {"name": "SS28"}, as_=user, org=org)
    for _ in range(LOOKS):
        await api.create(
            f"/shootings/{shooting['id']}/looks",
            {"main_product_id": product["id"], "shot_type_ids": types, "width": 64, "height": 64},
            as_=user,
            org=org,
        )
    return org, shooting["id"]


async def _batch(api: Api, user: UserHandle, org: str, shooting_id: str, batch_id: str) -> Any:
    r = await api.get(
        f"/shootings/{shooting_id}/generations/{batch_id}",
        as_=user,
        params={"organization_id": org},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_batch_of_200_survives_two_worker_kills_and_a_cancel(
    api: Api,
    app: FastAPI,
    user: UserHandle,
    gen_settings: Settings,
    knobs: ComputeSimServer,
    temporal: Client,
    tmp_path: Path,
    chaos_report: ChaosReport,
) -> None:
    prefix = f"chaos-batch-{uuid.uuid4().hex[:6]}-"
    settings = gen_settings.model_copy(
        update={"TASK_QUEUE_PREFIX": prefix, "BATCH_PAGE_SIZE": 25, "BATCH_PAGES_PER_RUN": 2}
    )
    knobs.set_config(latency_ms=300, progress_steps=1)
    worker = WorkerProcess(settings, prefix, tmp_path / "worker.log")
    worker.start()
    original = app.state.settings
    app.state.settings = settings
    try:
        org, shooting_id = await _shooting(api, user)
        r = await api.post(
            f"/shootings/{shooting_id}/generate", as_=user, params={"organization_id": org}
        )
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]

        async def ended_at_least(count: int) -> bool:
            body = await _batch(api, user, org, shooting_id, batch_id)
            assert body["status"] not in ENDED, body
            return body["completed"] + body["failed"] + body["cancelled"] >= count

        for threshold in KILL_AT:
            await eventually(
                lambda t=threshold: ended_at_least(t), within=240, what=f"{threshold} ended"
            )
            worker.kill()
            await asyncio.sleep(1.0)
            worker.start()
        await eventually(lambda: ended_at_least(CANCEL_AT), within=240, what="half ended")
        r = await api.post(
            f"/shootings/{shooting_id}/generations/{batch_id}/cancel",
            as_=user,
            params={"organization_id": org},
        )
        assert r.status_code == 202, r.text

        async def batch_ended() -> Any:
            body = await _batch(api, user, org, shooting_id, batch_id)
            return body if body["status"] in ENDED else None

        final = await eventually(batch_ended, within=240, what="the batch ended")

        # The row ends one workflow task before the run: keep the worker until the run has
        # closed too (stopping it first could leave the run open, waiting for a worker).
        async def run_closed() -> bool:
            handle = temporal.get_workflow_handle(f"shooting-generation-{batch_id}")
            return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING

        await eventually(run_closed, within=60, what="the batch's run closed")
    finally:
        app.state.settings = original
        worker.stop()

    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Generation.id, Generation.shot_id, Generation.status).where(
                    Generation.shooting_generation_id == uuid.UUID(batch_id)
                )
            )
        ).all()
        revisions = dict(
            (
                await session.execute(
                    select(ShotRevision.generation_id, func.count())
                    .where(ShotRevision.generation_id.in_([g for g, _, _ in rows]))
                    .group_by(ShotRevision.generation_id)
                )
            ).all()
        )
        predictions = dict(
            (
                await session.execute(
                    select(Prediction.generation_id, func.count())
                    .where(Prediction.generation_id.in_([g for g, _, _ in rows]))
                    .group_by(Prediction.generation_id)
                )
            ).all()
        )
    statuses = [GenerationStatus(status).value for _, _, status in rows]
    done = [g for (g, _, _), s in zip(rows, statuses, strict=True) if s == "completed"]
    completed = statuses.count("completed")
    cancelled = statuses.count("cancelled")
    shots = [shot for _, shot, _ in rows]
    duplicates = (len(shots) - len(set(shots))) + sum(1 for n in revisions.values() if n > 1)
    left_open = [s for s in statuses if s not in ("completed", "cancelled")]
    open_runs = 0
    for generation_id, _, _ in rows:
        handle = temporal.get_workflow_handle(f"generation-{generation_id}")
        try:
            description = await handle.describe()
        except RPCError as error:  # planned, cancelled before its workflow started
            assert error.status == RPCStatusCode.NOT_FOUND, error
            continue
        open_runs += description.status == WorkflowExecutionStatus.RUNNING
    batch_run = await temporal.get_workflow_handle(f"shooting-generation-{batch_id}").describe()
    chaos_report.record(
        "batch of 200: worker SIGKILL x2, cancelled halfway",
        runs=len(rows),
        completed=completed + cancelled,
        duplicates=duplicates,
        lost=len(left_open) + open_runs,
    )

    assert worker.starts >= 3, f"the worker was started {worker.starts} times"
    assert final["status"] == "cancelled", final
    assert len(rows) >= CANCEL_AT, len(rows)
    assert left_open == [], sorted(set(left_open))
    assert 0 < completed < SHOTS and cancelled > 0, (completed, cancelled)
    assert duplicates == 0
    assert [g for g in done if revisions.get(g) != 1] == [], revisions
    assert [g for g in done if predictions.get(g) != 1] == [], predictions
    assert open_runs == 0
    assert batch_run.status != WorkflowExecutionStatus.RUNNING, batch_run.status
    assert final["completed"] == completed and final["cancelled"] == cancelled, final
