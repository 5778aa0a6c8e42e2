"""Predictions: one output of one try of one attempt of a generation.

Keyed by (generation, generation attempt, try, output): a retried activity rewrites its own
row, and a retried generation (its next attempt) adds rows beside the earlier attempts'.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
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
        "error_message": None,
    }
    statement = insert(Prediction).values(id=uuid.uuid4(), created_at=now, updated_at=now, **values)
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_prediction_generation_attempt_try_output",
            set_={**values, "updated_at": now},
        )
    )


async def ensure_pending(
    session: AsyncSession,
    generation: Generation,
    *,
    try_number: int,
    task_id: str | None = None,
) -> None:
    """The try's `batch_size` placeholders (DOMAIN §3.7 step 2), `pending` until its task
    runs; the recorded outputs later take these very rows (upsert above). Repeating it adds
    nothing; a task id given is noted on the rows still waiting for it."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "created_at": now,
            "updated_at": now,
            "generation_id": generation.id,
            "shot_id": generation.shot_id,
            "organization_id": generation.organization_id,
            "generation_attempt": generation.attempt,
            "attempt": try_number,
            "output_index": index,
            "status": PredictionStatus.PENDING,
            "compute_task_id": task_id,
        }
        for index in range(generation.batch_size)
    ]
    await session.execute(
        insert(Prediction)
        .values(rows)
        .on_conflict_do_nothing(constraint="uq_prediction_generation_attempt_try_output")
    )
    if task_id is not None:
        await session.execute(
            _of_try(generation, try_number, WAITING).values(compute_task_id=task_id)
        )


WAITING = (PredictionStatus.PENDING, PredictionStatus.GENERATING)


def _of_try(generation: Generation, try_number: int, statuses: Sequence[PredictionStatus]) -> Any:
    return update(Prediction).where(
        Prediction.generation_id == generation.id,
        Prediction.generation_attempt == generation.attempt,
        Prediction.attempt == try_number,
        Prediction.status.in_(list(statuses)),
    )


async def start_generating(session: AsyncSession, generation: Generation) -> None:
    """The current try's task reports progress: its pending placeholders are generating."""
    current = await session.scalar(
        select(func.max(Prediction.attempt)).where(
            Prediction.generation_id == generation.id,
            Prediction.generation_attempt == generation.attempt,
        )
    )
    if current is not None:
        await session.execute(
            _of_try(generation, current, [PredictionStatus.PENDING]).values(
                status=PredictionStatus.GENERATING, updated_at=datetime.now(UTC)
            )
        )


async def close_missing(
    session: AsyncSession, generation: Generation, *, try_number: int, recorded: int
) -> None:
    """Placeholders of a try beyond the outputs Compute returned end `error`."""
    await session.execute(
        _of_try(generation, try_number, WAITING)
        .where(Prediction.output_index >= recorded)
        .values(
            status=PredictionStatus.ERROR,
            error_message=f"Compute returned {recorded} of {generation.batch_size} outputs",
            updated_at=datetime.now(UTC),
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


def public(prediction: Prediction, progress: float | None = None) -> PredictionPublic:
    """`progress`: the generation's, which a generating prediction shows as its own."""
    url = signed_url(prediction.media_resource_id) if prediction.media_resource_id else None
    shown = {PredictionStatus.COMPLETED: 1.0, PredictionStatus.GENERATING: progress or 0.0}
    return PredictionPublic.model_validate(
        prediction, update={"file_url": url, "progress": shown.get(prediction.status, 0.0)}
    )


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
