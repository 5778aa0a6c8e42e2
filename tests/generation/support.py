"""Helpers of the generation fault tests: database counts, the org's event stream, the
simulator's task records, and the worker as a real subprocess."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus

from compute_sim import ComputeSimServer
from compute_sim.store import SimTask
from models.generation import Prediction, ShotGenerateRequest
from models.media import MediaResource
from models.shot import ShotRevision
from services import generations
from services.tenancy import Scope
from tests.helpers import Api, UserHandle
from tests.helpers import eventually as eventually

ROOT = Path(__file__).resolve().parents[2]


async def make_sized_shot(
    api: Api, user: UserHandle, *, width: int = 256, height: int = 320
) -> dict[str, Any]:
    """A shooting with one look (of the given output size) and one shot."""
    org = user.orgs[0]
    product = await api.create(
        "/products/", {"name": "Wool coat", "sku": uuid.uuid4().hex[:8]}, as_=user, org=org
    )
    shot_type = await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    shooting = await api.create("/shootings/", {"name": "AW27"}, as_=user, org=org)
    look = await api.create(
        f"/shootings/{shooting['id']}/looks",
        {
            "main_product_id": product["id"],
            "shot_type_ids": [shot_type["id"]],
            "width": width,
            "height": height,
        },
        as_=user,
        org=org,
    )
    return {"org": org, "shooting": shooting, "look": look, "shot_ids": look["shot_ids"]}


async def start_via_api(
    api: Api, user: UserHandle, org: str, shot_id: str, **body: Any
) -> dict[str, Any]:
    r = await api.post(
        "/generations", as_=user, params={"organization_id": org}, json={"shot_id": shot_id, **body}
    )
    assert r.status_code == 202, r.text
    return r.json()


async def create_generation_row(
    app: FastAPI, user: UserHandle, org: str, shot_id: str, **body: Any
) -> dict[str, str | None]:
    """A pending generation row, committed, without starting its workflow."""
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
    request = ShotGenerateRequest.model_validate(body)
    async with app.state.sessionmaker() as session:
        generation = await generations.create_for_shot(session, scope, uuid.UUID(shot_id), request)
        await session.commit()
        return {
            "id": str(generation.id),
            "organization_id": str(generation.organization_id),
            "owner_id": str(generation.owner_id),
            "shooting_id": str(generation.shooting_id) if generation.shooting_id else None,
        }


async def outcome_counts(app: FastAPI, generation_id: str) -> dict[str, Any]:
    """What the generation left in the database: predictions with a recorded output (its
    pending placeholders exist from submission on), their media rows (all rows with the
    outputs' hashes in the org), and the shot revisions made by it."""
    gid = uuid.UUID(generation_id)
    async with app.state.sessionmaker() as session:
        predictions = (
            await session.execute(
                select(Prediction.attempt, Prediction.output_index, Prediction.media_resource_id)
                .where(Prediction.generation_id == gid, Prediction.media_resource_id.is_not(None))
                .order_by(Prediction.attempt, Prediction.output_index)
            )
        ).all()
        media_ids = {p.media_resource_id for p in predictions}
        hashes = (
            await session.scalars(
                select(MediaResource.content_hash).where(MediaResource.id.in_(media_ids))
            )
        ).all()
        org_id = await session.scalar(
            select(Prediction.organization_id).where(Prediction.generation_id == gid).limit(1)
        )
        media_rows = await session.scalar(
            select(func.count())
            .select_from(MediaResource)
            .where(
                MediaResource.content_hash.in_(hashes),
                MediaResource.organization_id == org_id,
            )
        )
        revisions = await session.scalar(
            select(func.count()).select_from(ShotRevision).where(ShotRevision.generation_id == gid)
        )
    return {
        "predictions": len(predictions),
        "keys": [(p.attempt, p.output_index) for p in predictions],
        "media_ids": media_ids,
        "distinct_hashes": len(set(hashes)),
        "media_rows": media_rows,
        "revisions": revisions,
    }


async def prediction_tasks(app: FastAPI, generation_id: str) -> dict[int, set[str | None]]:
    """The compute task ids recorded on a generation's predictions, per try."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Prediction.attempt, Prediction.compute_task_id).where(
                    Prediction.generation_id == uuid.UUID(generation_id)
                )
            )
        ).all()
    found: dict[int, set[str | None]] = {}
    for attempt, task_id in rows:
        found.setdefault(attempt, set()).add(task_id)
    return found


async def org_events(redis: Redis, org: str, kind: str, generation_id: str) -> list[dict]:
    """generation.<kind> messages about one generation in the org's event stream."""
    found = []
    for _id, fields in await redis.xrange(f"events:org:{org}"):
        message = json.loads(fields[b"m"])
        if message["type"] == f"generation.{kind}" and message["payload"]["id"] == generation_id:
            found.append(message)
    return found


async def compute_events(redis: Redis, stream: str, generation_id: str) -> list[dict[str, str]]:
    """The compute events simulator wrote for a generation (as the bridge reads them)."""
    return [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _id, fields in await redis.xrange(stream)
        if fields.get(b"entity_id") == generation_id.encode()
    ]


def sim_tasks(sim: ComputeSimServer, generation_id: str, task_type: str) -> list[SimTask]:
    """The simulator's tasks for a generation, oldest first."""
    tasks = sim.app.state.sim.store.all()
    return [t for t in tasks if t.entity_id == generation_id and t.type == task_type]


def forget_sim_task(sim: ComputeSimServer, task_id: str) -> None:
    """Make the simulator lose a task, as a compute server restarted without its state
    would (compute_sim keeps no state across restarts): GET /tasks/{id} answers 404."""
    store = sim.app.state.sim.store
    with store._lock:
        task = store._tasks.pop(task_id)
        if task.idempotency_key is not None:
            store._by_key.pop(task.idempotency_key, None)


async def closed_runs(temporal: Client, workflow_id: str, *, within: float = 30) -> list[Any]:
    """Every run of the workflow id (continued-as-new ones too), oldest first, once
    visibility shows them all closed (visibility trails the workflow's own result)."""

    async def closed() -> list[Any] | None:
        runs = [r async for r in temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if not runs or any(r.status == WorkflowExecutionStatus.RUNNING for r in runs):
            return None
        return sorted(runs, key=lambda r: r.start_time)

    return await eventually(closed, within=within, what=f"visibility of {workflow_id}", every=0.2)
