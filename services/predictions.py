"""Predictions: one output of one try of one attempt of a generation.

Keyed by (generation, generation attempt, try, output): a retried activity rewrites its own
row, and a retried generation (its next attempt) adds rows beside the earlier attempts'.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.file_urls import signed_url
from models.generation import Generation, Prediction, PredictionPublic, PredictionStatus
from services.repository import list_rows
from services.tenancy import Scope


async def upsert(
    session: AsyncSession,
    generation: Generation,
    *,
    try_number: int,
    output_index: int,
    seed: int | None,
    media_id: uuid.UUID,
    task_id: str,
    score: float | None,
) -> None:
    """One prediction per (generation, attempt, try, output): a retried activity rewrites it."""
    now = datetime.now(UTC)
    values = {
        "generation_id": generation.id,
        "shot_id": generation.shot_id,
        "organization_id": generation.organization_id,
        "generation_attempt": generation.attempt,
        "attempt": try_number,
        "output_index": output_index,
        "seed": seed,
        "status": PredictionStatus.COMPLETED,
        "media_resource_id": media_id,
        "compute_task_id": task_id,
        "score": score,
    }
    statement = insert(Prediction).values(id=uuid.uuid4(), created_at=now, updated_at=now, **values)
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_prediction_generation_attempt_try_output",
            set_={**values, "updated_at": now},
        )
    )


async def id_of(
    session: AsyncSession, generation: Generation, try_number: int, output_index: int
) -> uuid.UUID:
    found = await session.scalar(
        select(Prediction.id).where(
            Prediction.generation_id == generation.id,
            Prediction.generation_attempt == generation.attempt,
            Prediction.attempt == try_number,
            Prediction.output_index == output_index,
        )
    )
    assert found is not None
    return found


async def of_generations(
    session: AsyncSession, generation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Prediction]]:
    rows = await session.scalars(
        select(Prediction)
        .where(Prediction.generation_id.in_(generation_ids))
        .order_by(
            Prediction.generation_id,
            Prediction.generation_attempt,
            Prediction.attempt,
            Prediction.output_index,
        )
    )
    result: dict[uuid.UUID, list[Prediction]] = {}
    for row in rows:
        result.setdefault(row.generation_id, []).append(row)
    return result


def public(prediction: Prediction) -> PredictionPublic:
    url = signed_url(prediction.media_resource_id) if prediction.media_resource_id else None
    return PredictionPublic.model_validate(prediction, update={"file_url": url})


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    shot_id: uuid.UUID | None = None,
    generation_id: uuid.UUID | None = None,
) -> tuple[list[Prediction], int]:
    """Predictions of the scope's generations (joined through their generation)."""
    in_scope = Prediction.generation_id.in_(select(Generation.id).where(scope.filter(Generation)))
    where: list[ColumnElement[bool]] = [in_scope]
    if shot_id:
        where.append(Prediction.shot_id == shot_id)
    if generation_id:
        where.append(Prediction.generation_id == generation_id)
    return await list_rows(
        session,
        Prediction,
        where=where,
        skip=skip,
        limit=limit,
        order_by=(
            Prediction.created_at.desc(),
            Prediction.generation_attempt,
            Prediction.attempt,
            Prediction.output_index,
        ),
    )
