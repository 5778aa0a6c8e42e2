"""A batch of thousands of shots completes: planned a page at a time from Postgres, a
bounded window of children in flight, continued as new ahead of Temporal's history limits,
so no run's history grows with the batch.

The children are a stand-in GenerationWorkflow that only marks its generation completed
(what is measured is the batch, not compute), on task queues of this test's own.
SARTIQ_BATCH_SCALE_SHOTS sets the size (default 1,000; the issue's figure is 10,000)."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.batch import BatchActivities
from core.config import Settings
from core.db import session_scope
from core.starts import start_shooting_generation
from core.temporal import GENERATIONS_QUEUE
from models.generation import Generation, GenerationStatus, ShootingGenerateRequest
from models.shooting_generation import ShootingGeneration
from services import batches
from services.tenancy import Scope
from tests.generation.support import closed_runs
from tests.helpers import Api, UserHandle
from workflows.batch_types import BatchProgress, ShootingGenerationInput
from workflows.shooting_generation import ShootingGenerationWorkflow
from workflows.types import GenerationInput

SHOTS = int(os.environ.get("SARTIQ_BATCH_SCALE_SHOTS", "1000"))
SHOT_TYPES = 100  # shots per look
PAGE_SIZE, PAGES_PER_RUN, WINDOW = 100, 5, 50
# Temporal warns at 10,240 events per run (and fails at 51,200).
HISTORY_WARNING = 10_240


@workflow.defn(name="GenerationWorkflow", sandboxed=False)
class StandInGeneration:
    """Ends its generation `completed`, nothing else."""

    @workflow.run
    async def run(self, data: GenerationInput) -> str:
        await workflow.execute_activity(
            "test.complete_generation",
            data.generation_id,
            start_to_close_timeout=timedelta(seconds=30),
        )
        return "completed"


class StandInActivities:
    def __init__(self, app: FastAPI) -> None:
        self.sessionmaker = app.state.sessionmaker

    @activity.defn(name="test.complete_generation")
    async def complete(self, generation_id: str) -> None:
        async with session_scope(self.sessionmaker) as session:
            await session.execute(
                update(Generation)
                .where(Generation.id == uuid.UUID(generation_id))
                .values(
                    status=GenerationStatus.COMPLETED,
                    progress=1.0,
                    completed_at=datetime.now(UTC),
                )
            )


@pytest.fixture
async def batch_queues(temporal: Client, settings: Settings, app: FastAPI) -> AsyncIterator[str]:
    prefix = f"scale-{uuid.uuid4().hex[:8]}-"
    redis = Redis.from_url(settings.REDIS_URL)
    batch = BatchActivities(settings=settings, sessionmaker=app.state.sessionmaker, redis=redis)
    async with Worker(
        temporal,
        task_queue=prefix + GENERATIONS_QUEUE,
        workflows=[ShootingGenerationWorkflow, StandInGeneration],
        activities=[*batch.activities(), StandInActivities(app).complete],
        max_concurrent_activities=64,
    ):
        yield prefix
    await redis.aclose()


async def _shooting(api: Api, user: UserHandle, shots: int) -> tuple[str, int]:
    org = user.orgs[0]
    types = [
        (await api.create("/shot-types/", {"name": f"Angle {i}"}, as_=user, org=org))["id"]
        for i in range(min(shots, SHOT_TYPES))
    ]
    shooting = await api.create("/shootings/", {"name": "Catalogue 29"}, as_=user, org=org)
    made = 0
    while made < shots:
        chosen = types[: shots - made]
        await api.create(
            f"/shootings/{shooting['id']}/looks", {"shot_type_ids": chosen}, as_=user, org=org
        )
        made += len(chosen)
    return shooting["id"], made


@pytest.mark.timeout(1800)
async def test_a_batch_of_thousands_of_shots_completes(
    api: Api, app: FastAPI, user: UserHandle, temporal: Client, batch_queues: str
) -> None:
    shooting_id, shots = await _shooting(api, user, SHOTS)
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(user.orgs[0]), role=None)
    async with app.state.sessionmaker() as session:
        row, created = await batches.active_or_new(
            session, scope, uuid.UUID(shooting_id), ShootingGenerateRequest()
        )
        await session.commit()
    assert created and row.total == shots
    began = time.monotonic()
    handle = await start_shooting_generation(
        temporal,
        ShootingGenerationInput(
            shooting_id=shooting_id,
            user_id=user.id,
            organization_id=user.orgs[0],
            look_id=None,
            request=row.request,
            max_in_flight=WINDOW,
            batch_id=str(row.id),
            page_size=PAGE_SIZE,
            pages_per_run=PAGES_PER_RUN,
        ),
        task_queue_prefix=batch_queues,
    )
    result = await temporal.get_workflow_handle(handle.id, result_type=BatchProgress).result()
    elapsed = time.monotonic() - began
    assert (result.total, result.completed, result.failed, result.cancelled) == (shots, shots, 0, 0)

    async with app.state.sessionmaker() as session:
        batch = await session.get(ShootingGeneration, row.id)
        assert batch is not None
        assert batch.status.value == "completed"
        assert (batch.total, batch.completed, batch.failed, batch.cancelled) == (shots, shots, 0, 0)
        planned = await session.execute(
            select(func.count(), func.count(func.distinct(Generation.shot_id))).where(
                Generation.shooting_generation_id == row.id,
                Generation.status == GenerationStatus.COMPLETED,
            )
        )
        assert tuple(planned.one()) == (shots, shots)  # one generation per shot

    # Runs of PAGES_PER_RUN pages each (or fewer, when the server suggested it sooner), each
    # with a history far from the limits whatever the batch's size.
    runs = await closed_runs(temporal, handle.id)
    assert len(runs) >= math.ceil(shots / (PAGE_SIZE * PAGES_PER_RUN))
    assert sum(r.status == WorkflowExecutionStatus.COMPLETED for r in runs) == 1
    lengths, planning = [], 0.0
    for run in runs:
        history = await temporal.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history()
        lengths.append(len(history.events))
        planning += _planning_seconds(history.events)
    assert max(lengths) < HISTORY_WARNING, lengths
    print(
        f"\n{shots} shots: {len(runs)} runs, longest history {max(lengths)} events, {elapsed:.1f}s"
        f" ({planning:.1f}s of it planning pages)"
    )


def _planning_seconds(events: list) -> float:
    """Time the run's `batch.plan_page` activities took, scheduled to completed."""
    scheduled = {
        e.event_id: e.event_time.ToDatetime()
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "batch.plan_page"
    }
    total = 0.0
    for e in events:
        if e.HasField("activity_task_completed_event_attributes"):
            start = scheduled.get(e.activity_task_completed_event_attributes.scheduled_event_id)
            if start is not None:
                total += (e.event_time.ToDatetime() - start).total_seconds()
    return total
