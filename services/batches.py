"""Batch generations of a shooting as the API sees them: start (one active batch per
shooting or look), list, read with live counts, and ending a batch whose workflow is gone.
What the batch's workflow changes is in services/batch_plan.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, GenerationStatus, ShootingGenerateRequest
from models.jobs import JOB_FINAL_STATUSES, JobStatus
from models.shooting import Shooting
from models.shooting_generation import (
    ShootingGeneration,
    ShootingGenerationPublic,
    batch_workflow_id,
)
from models.shot import Shot
from services import generation_models, generations, looks, shootings
from services.errors import Conflict, NotFound
from services.repository import get_row, list_rows
from services.tenancy import Scope

ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)
CANCELLED_UNSTARTED = "Batch cancelled before this generation started"
STARTING_GRACE = timedelta(minutes=1)


def _same_look(look_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Batches of the whole shooting (None), or of this look."""
    if look_id is None:
        return ShootingGeneration.look_id.is_(None)  # type: ignore[union-attr]
    return ShootingGeneration.look_id == look_id  # type: ignore[return-value]


async def active_or_new(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, body: ShootingGenerateRequest
) -> tuple[ShootingGeneration, bool]:
    """The shooting's (or look's) active batch, else a new pending one: (batch, created).
    Starts for one shooting queue on its row lock, so two at once make one batch. The
    request's model is resolved here (unknown: 422, retired: 409) and kept by id, so every
    page plans on the same model whatever becomes the default meanwhile."""
    await shootings.get(session, scope, shooting_id)
    model = await generation_models.resolve(session, model_id=body.model_id, model=body.model)
    # FOR NO KEY UPDATE: serialises starts without blocking rows that reference the shooting.
    await session.execute(
        select(Shooting.id).where(Shooting.id == shooting_id).with_for_update(key_share=True)
    )
    if body.look_id is not None:
        look = await looks.get(session, scope, body.look_id)
        if look.shooting_id != shooting_id:
            raise NotFound("Look not found")
    active = await session.scalar(
        select(ShootingGeneration)
        .where(
            ShootingGeneration.shooting_id == shooting_id,
            _same_look(body.look_id),
            ShootingGeneration.status.in_(ACTIVE),
            scope.filter(ShootingGeneration),
        )
        .order_by(ShootingGeneration.created_at.desc())
        .limit(1)
    )
    if active is not None:
        return active, False
    shots = select(func.count(Shot.id)).where(Shot.shooting_id == shooting_id, scope.filter(Shot))
    if body.look_id is not None:
        shots = shots.where(Shot.look_id == body.look_id)
    batch_id = uuid.uuid4()
    batch = scope.stamp(
        ShootingGeneration(
            id=batch_id,
            shooting_id=shooting_id,
            look_id=body.look_id,
            requested_by=scope.user_id,
            request={
                **body.model_dump(mode="json", exclude={"look_id", "only_missing"}),
                "model_id": str(model.id) if model is not None else None,
                "model": None,
            },
            only_missing=body.only_missing,
            total=int(await session.scalar(shots) or 0),
            workflow_id=batch_workflow_id(batch_id),
        )
    )
    session.add(batch)
    await session.flush()
    return batch, True


async def get(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, batch_id: uuid.UUID
) -> ShootingGeneration:
    where = and_(scope.filter(ShootingGeneration), ShootingGeneration.shooting_id == shooting_id)
    return await get_row(session, ShootingGeneration, batch_id, where=where, what="Batch")


async def list_(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, *, skip: int, limit: int
) -> tuple[list[ShootingGeneration], int]:
    """The shooting's batches, newest first."""
    shooting = await shootings.get(session, scope, shooting_id)
    where = [scope.filter(ShootingGeneration), ShootingGeneration.shooting_id == shooting.id]
    order = (ShootingGeneration.created_at.desc(), ShootingGeneration.id)
    return await list_rows(
        session, ShootingGeneration, where=where, skip=skip, limit=limit, order_by=order
    )


async def latest(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, look_id: uuid.UUID | None
) -> ShootingGeneration:
    """The newest batch of the shooting (or of the look)."""
    await shootings.get(session, scope, shooting_id)
    row = await session.scalar(
        select(ShootingGeneration)
        .where(
            ShootingGeneration.shooting_id == shooting_id,
            _same_look(look_id),
            scope.filter(ShootingGeneration),
        )
        .order_by(ShootingGeneration.created_at.desc(), ShootingGeneration.id)
        .limit(1)
    )
    if row is None:
        raise NotFound("No batch generation for this shooting")
    return row


async def generation_counts(
    session: AsyncSession, batch_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Generations per status of each batch, in one grouped query (zeros included)."""
    ids = list(set(batch_ids))
    counts = {i: {s.value: 0 for s in GenerationStatus} for i in ids}
    if ids:
        rows = await session.execute(
            select(Generation.shooting_generation_id, Generation.status, func.count())
            .where(Generation.shooting_generation_id.in_(ids))
            .group_by(Generation.shooting_generation_id, Generation.status)
        )
        for batch_id, status, count in rows:
            counts[batch_id][GenerationStatus(status).value] = int(count)
    return counts


async def publics(
    session: AsyncSession,
    rows: Sequence[ShootingGeneration],
    *,
    ui_url: Callable[[str | None], str | None] | None = None,
) -> list[ShootingGenerationPublic]:
    """A batch that ended shows its recorded outcome; one still running shows its
    generations' statuses as they are now (one query for the page)."""
    live = await generation_counts(session, [r.id for r in rows if r.status in ACTIVE])
    result = []
    for row in rows:
        update: dict[str, object] = {"temporal_ui_url": ui_url(row.workflow_id) if ui_url else None}
        if row.id in live:
            now = live[row.id]
            update.update(
                pending=now["pending"],
                running=now["processing"],
                completed=now["completed"],
                failed=now["failed"],
                cancelled=now["cancelled"],
            )
        result.append(ShootingGenerationPublic.model_validate(row, update=update))
    return result


def may_have_lost_its_workflow(batch: ShootingGeneration) -> bool:
    """A running batch always has a workflow (its first page marked it running); a pending
    one gets it right after its row is committed, so only an old pending one is suspect."""
    if batch.status == JobStatus.RUNNING:
        return True
    return datetime.now(UTC) - batch.created_at > STARTING_GRACE


def ensure_cancellable(batch: ShootingGeneration) -> None:
    if batch.status in JOB_FINAL_STATUSES:
        raise Conflict(f"Batch is already {batch.status.value}")


async def end_without_workflow(
    session: AsyncSession, batch_id: uuid.UUID, *, status: JobStatus, message: str | None
) -> tuple[ShootingGeneration, list[Generation]]:
    """End an active batch that has no workflow (it never started, or its run was
    terminated): its pending generations are cancelled (nothing would start them) and its
    counts read from its generations. Returns the batch and the generations cancelled."""
    batch = await session.scalar(
        select(ShootingGeneration).where(ShootingGeneration.id == batch_id).with_for_update()
    )
    if batch is None:
        raise NotFound("Batch not found")
    if batch.status in JOB_FINAL_STATUSES:  # its workflow finished it meanwhile
        return batch, []
    cancelled = await cancel_pending(session, batch.id)
    counts = (await generation_counts(session, [batch.id]))[batch.id]
    batch.status = status
    batch.error_message = message
    batch.completed = counts["completed"]
    batch.failed = counts["failed"]
    batch.cancelled = counts["cancelled"]
    batch.completed_at = datetime.now(UTC)
    await session.flush()
    return batch, cancelled


async def cancel_pending(session: AsyncSession, batch_id: uuid.UUID) -> list[Generation]:
    """The batch's generations that never started, ended `cancelled` (locked by id)."""
    rows = await session.scalars(
        select(Generation)
        .where(
            Generation.shooting_generation_id == batch_id,
            Generation.status == GenerationStatus.PENDING,
        )
        .order_by(Generation.id)
        .with_for_update()
    )
    ended = []
    for generation in rows:
        if await generations.finish(
            session,
            generation,
            status=GenerationStatus.CANCELLED,
            error_message=CANCELLED_UNSTARTED,
            error_category="cancelled",
        ):
            ended.append(generation)
    await session.flush()  # the session does not autoflush: counts read next see these
    return ended
