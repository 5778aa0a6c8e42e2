"""Recording a generation's outputs (issue 13): generations of one shot complete together
without a deadlock, and a retried generation keeps its earlier attempts' predictions.

Each completion inserts predictions and a revision that reference the shot (a foreign key
takes FOR KEY SHARE on the shot row) and then numbers the revision under the shot's row
lock. Taking that lock after the key-share locks made every pair of concurrent completions
of one shot a lock upgrade both sides wait on: Postgres aborted one of each pair with
`deadlock detected` (370+ in a bench run). The lock order is now shot, then generation,
then media by id, taken first in every transaction that writes under a shot.
"""

from __future__ import annotations

import asyncio
import io
import uuid

from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select, text
from temporalio.testing import ActivityEnvironment

from activities.generation import GenerationActivities
from models.generation import Generation, GenerationStatus, ShotGenerateRequest
from models.shot import ShotRevision
from services import generations
from services.tenancy import Scope
from tests.generation.conftest import make_shot
from tests.helpers import Api, UserHandle
from workflows.types import (
    CompleteInput,
    OutputImage,
    RecordAndCompleteInput,
    RecordTryInput,
    StoreOutputsInput,
)

GENERATIONS = 50


def _png(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (index % 256, (index * 7) % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


async def _record(
    activities: GenerationActivities,
    app: FastAPI,
    user: UserHandle,
    org: str,
    generation_id: str,
    index: int,
    try_number: int = 1,
) -> RecordTryInput:
    """One output stored as compute leaves it, through store_outputs, ready to record."""
    key = f"compute/{uuid.uuid4()}/0.png"
    app.state.store.put(key, _png(index), content_type="image/png")
    outputs = await asyncio.to_thread(
        ActivityEnvironment().run,
        activities.store_outputs,
        StoreOutputsInput(
            generation_id=generation_id,
            organization_id=org,
            owner_id=user.id,
            images=[OutputImage(url="http://compute.invalid/x", seed=index, key=key)],
        ),
    )
    return RecordTryInput(
        generation_id=generation_id,
        try_number=try_number,
        task_id=f"t-{index}",
        outputs=outputs,
    )


async def _deadlocks(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        found = await session.scalar(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        )
    return int(found or 0)


async def test_fifty_generations_of_one_shot_complete_at_once_without_deadlock(
    api: Api, app: FastAPI, user: UserHandle, activities: GenerationActivities
) -> None:
    world = await make_shot(api, user)
    shot_id = uuid.UUID(world["shot_ids"][0])
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(world["org"]), role=None)
    async with app.state.sessionmaker() as session, session.begin():
        rows = [
            await generations.create_for_shot(session, scope, shot_id, ShotGenerateRequest())
            for _ in range(GENERATIONS)
        ]
        for row in rows:
            row.status = GenerationStatus.PROCESSING
        ids = [str(row.id) for row in rows]

    inputs = [
        RecordAndCompleteInput(
            record=await _record(activities, app, user, world["org"], g, i),
            complete=CompleteInput(generation_id=g, best_try=1),
        )
        for i, g in enumerate(ids)
    ]
    environment = ActivityEnvironment()
    before = await _deadlocks(app)
    results = await asyncio.gather(
        *(environment.run(activities.record_and_complete, data) for data in inputs),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} completions failed, first: {errors[0]!r}"
    assert await _deadlocks(app) - before == 0

    async with app.state.sessionmaker() as session:
        revisions = (
            await session.scalars(
                select(ShotRevision)
                .where(ShotRevision.shot_id == shot_id)
                .order_by(ShotRevision.version)
            )
        ).all()
        statuses = set(
            (
                await session.scalars(
                    select(Generation.status).where(Generation.shot_id == shot_id)
                )
            ).all()
        )
    assert [r.version for r in revisions] == list(range(1, GENERATIONS + 1))
    assert sorted(str(r.generation_id) for r in revisions) == sorted(ids)
    assert statuses == {GenerationStatus.COMPLETED}


async def test_a_retried_generation_keeps_the_predictions_of_earlier_attempts(
    api: Api, app: FastAPI, user: UserHandle, activities: GenerationActivities
) -> None:
    """Attempt 1 recorded try 1 and failed; the retry (attempt 2) records its own try 1
    beside it instead of overwriting it, and its completion shows attempt 2's image."""
    world = await make_shot(api, user)
    shot_id = uuid.UUID(world["shot_ids"][0])
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(world["org"]), role=None)
    async with app.state.sessionmaker() as session, session.begin():
        row = await generations.create_for_shot(session, scope, shot_id, ShotGenerateRequest())
        row.status = GenerationStatus.PROCESSING
        generation_id = str(row.id)
    environment = ActivityEnvironment()
    first = await _record(activities, app, user, world["org"], generation_id, 1)
    await environment.run(activities.record_try, first)
    async with app.state.sessionmaker() as session, session.begin():
        row = await generations.load_for_update(session, uuid.UUID(generation_id))
        await generations.finish(
            session,
            row,
            status=GenerationStatus.FAILED,
            error_message="evaluation failed",
            error_category="compute_error",
        )
        await generations.prepare_retry(session, row)
    second = await _record(activities, app, user, world["org"], generation_id, 2)
    await environment.run(
        activities.record_and_complete,
        RecordAndCompleteInput(
            record=second, complete=CompleteInput(generation_id=generation_id, best_try=1)
        ),
    )

    r = await api.get(
        "/predictions/",
        as_=user,
        params={"organization_id": world["org"], "generation_id": generation_id},
    )
    assert r.status_code == 200, r.text
    found = sorted(
        (p["generation_attempt"], p["attempt"], p["media_resource_id"]) for p in r.json()["data"]
    )
    assert found == [
        (1, 1, first.outputs[0].media_id),
        (2, 1, second.outputs[0].media_id),
    ]
    r = await api.get(
        f"/shots/{shot_id}/revisions", as_=user, params={"organization_id": world["org"]}
    )
    assert r.status_code == 200, r.text
    revisions = r.json()["data"]
    assert [(v["generation_id"], v["media_resource_ids"]) for v in revisions] == [
        (generation_id, [second.outputs[0].media_id])
    ]
