"""What a batch's workflow changes (each idempotent, so an activity may always retry): the
next page of shots planned as pending generations, the batch's end. Plus the one-shot plan
of runs started before batch rows existed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, GenerationStatus, ShotGenerateRequest
from models.generation_model import GenerationModel
from models.jobs import JOB_FINAL_STATUSES, JobStatus
from models.shooting_generation import MAX_SKIPPED_LISTED, ShootingGeneration
from models.shot import RevisionStatus, Shot
from services import generation_models, generations
from services import shots as shot_service
from services.batches import generation_counts
from services.errors import Unprocessable
from services.generation_checks import RuleBroken
from services.tenancy import Scope

# Batch generation ids derive from (batch, shot): a retried page finds its own rows. (Runs
# from before batch rows used (run id, shot); both are uuids, so the two never meet.)
BATCH_NAMESPACE = uuid.UUID("5d1b8a4e-3f0c-4c1e-9a57-2b8f6c0d9e13")


class BatchGone(LookupError):
    """The batch row is gone (its shooting was deleted): nothing left to plan or finish."""


class InvalidBatch(ValueError):
    """The stored request no longer validates: no retry can plan it."""


def generation_id(batch_id: uuid.UUID | str, shot_id: uuid.UUID | str) -> uuid.UUID:
    return uuid.uuid5(BATCH_NAMESPACE, f"{batch_id}:{shot_id}")


@dataclass(frozen=True)
class PlannedPage:
    items: list[tuple[uuid.UUID, uuid.UUID]]  # (generation id, shot id), in order
    last: tuple[uuid.UUID, uuid.UUID] | None  # (look id, shot id) of the page's last shot
    skipped: int
    done: bool
    total: int


def _scope(batch: ShootingGeneration) -> Scope:
    user = batch.requested_by or batch.owner_id
    if user is None and batch.organization_id is None:
        raise InvalidBatch("the batch's owner no longer exists")
    return Scope(user_id=user, organization_id=batch.organization_id, role=None)  # type: ignore[arg-type]


def _request(batch: ShootingGeneration) -> ShotGenerateRequest:
    try:
        return ShotGenerateRequest.model_validate(batch.request)
    except ValidationError as error:  # a batch saved before today's config rules
        raise InvalidBatch(f"invalid batch request: {error}") from None


async def load_for_update(session: AsyncSession, batch_id: uuid.UUID) -> ShootingGeneration:
    batch = await session.scalar(
        select(ShootingGeneration).where(ShootingGeneration.id == batch_id).with_for_update()
    )
    if batch is None:
        raise BatchGone(f"batch {batch_id} does not exist")
    return batch


async def plan_page(
    session: AsyncSession,
    batch: ShootingGeneration,
    *,
    after: tuple[uuid.UUID, uuid.UUID] | None,
    limit: int,
    completed: int,
    failed: int,
    cancelled: int,
    skipped: int,
) -> PlannedPage:
    """The next `limit` shots after `after` (order: look, shot), each with its pending
    generation, created unless it exists; a shot that breaks a business rule is skipped
    and listed with the reason (`skipped_shots`), the rest runs. The counts so far are kept
    on the row (a checkpoint); the first page marks the batch running."""
    if batch.status in JOB_FINAL_STATUSES:  # ended without its workflow: plan no more
        return PlannedPage(items=[], last=after, skipped=0, done=True, total=batch.total)
    request = _request(batch)
    scope = _scope(batch)
    if batch.status == JobStatus.PENDING:
        batch.status = JobStatus.RUNNING
        batch.started_at = datetime.now(UTC)
    batch.completed, batch.failed, batch.cancelled = completed, failed, cancelled
    batch.skipped = skipped
    query = shot_service.with_current_revision(
        select(Shot.id, Shot.look_id, shot_service.status_column())
    ).where(Shot.shooting_id == batch.shooting_id, scope.filter(Shot))
    if batch.look_id is not None:
        query = query.where(Shot.look_id == batch.look_id)
    if after is not None:
        look_id, shot_id = after
        query = query.where(
            or_(Shot.look_id > look_id, and_(Shot.look_id == look_id, Shot.id > shot_id))
        )
    # One row beyond the page tells whether another page follows (no empty last page).
    rows = (await session.execute(query.order_by(Shot.look_id, Shot.id).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = {shot: generation_id(batch.id, shot) for shot, _look, _status in rows}
    existing = set(
        await session.scalars(select(Generation.id).where(Generation.id.in_(list(ids.values()))))
    )
    items: list[tuple[uuid.UUID, uuid.UUID]] = []
    page_skipped = 0
    model, model_problem = await _page_model(session, request, rows, existing, ids)
    for shot, _look, status in rows:
        planned = ids[shot]
        if planned not in existing:
            if batch.only_missing and status == RevisionStatus.APPROVED.value:
                page_skipped += 1
                continue
            try:
                if model_problem is not None:
                    raise RuleBroken(model_problem)
                # The rules are checked before anything is added: a shot that breaks one
                # leaves nothing behind (no savepoint needed).
                generation = await generations.create_for_shot(
                    session,
                    scope,
                    shot,
                    request,
                    autogenerated=True,
                    generation_id=planned,
                    model=model,
                )
                generation.shooting_generation_id = batch.id
            except RuleBroken as broken:
                page_skipped += 1
                _record_skip(batch, shot, str(broken.detail))
                continue
        items.append((planned, shot))
    await session.flush()
    last = (rows[-1][1], rows[-1][0]) if rows else after
    return PlannedPage(
        items=items, last=last, skipped=page_skipped, done=not more, total=batch.total
    )


async def _page_model(
    session: AsyncSession,
    request: ShotGenerateRequest,
    rows: Sequence[Any],
    existing: set[uuid.UUID],
    ids: dict[uuid.UUID, uuid.UUID],
) -> tuple[GenerationModel | None, str | None]:
    """The batch's model, resolved once for the page (when it plans anything): (model,
    None), or (None, why no shot can run) when it was retired or deleted since the start."""
    if all(ids[shot] in existing for shot, *_rest in rows):
        return None, None
    try:
        model = await generation_models.resolve(
            session, model_id=request.model_id, model=request.model
        )
    except RuleBroken as broken:
        return None, str(broken.detail)
    except Unprocessable:
        return None, f"The batch's generation model {request.model_id or request.model} is gone"
    return model, None


def _record_skip(batch: ShootingGeneration, shot_id: uuid.UUID, reason: str) -> None:
    """A shot left alone for a broken rule, listed once (a retried page meets it again)."""
    listed = batch.skipped_shots or []
    if len(listed) >= MAX_SKIPPED_LISTED or any(s["shot_id"] == str(shot_id) for s in listed):
        return
    # A new list: the JSON column is saved when the attribute is assigned, not mutated.
    batch.skipped_shots = [*listed, {"shot_id": str(shot_id), "reason": reason[:1000]}]


async def processing_ids(session: AsyncSession, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """The batch's generations still running (on a cancel: none of the window's, which was
    drained first; a retry someone started, say)."""
    return list(
        await session.scalars(
            select(Generation.id)
            .where(
                Generation.shooting_generation_id == batch_id,
                Generation.status == GenerationStatus.PROCESSING,
            )
            .order_by(Generation.id)
        )
    )


async def finish(
    session: AsyncSession,
    batch_id: uuid.UUID,
    *,
    status: JobStatus,
    skipped: int,
    planned_all: bool,
    error_message: str | None,
) -> ShootingGeneration | None:
    """The batch's end, with its counts read from its generations (the truth, whatever the
    workflow counted); the total, once every shot was reached, is what the batch went
    through. A batch that already ended keeps its outcome (a retried finish)."""
    batch = await session.scalar(
        select(ShootingGeneration).where(ShootingGeneration.id == batch_id).with_for_update()
    )
    if batch is None or batch.status in JOB_FINAL_STATUSES:
        return batch
    counts = (await generation_counts(session, [batch.id]))[batch.id]
    batch.status = status
    batch.completed = counts["completed"]
    batch.failed = counts["failed"]
    batch.cancelled = counts["cancelled"]
    batch.skipped = skipped
    if planned_all:
        batch.total = sum(counts.values()) + skipped
    batch.error_message = error_message
    batch.started_at = batch.started_at or datetime.now(UTC)
    batch.completed_at = datetime.now(UTC)
    await session.flush()
    return batch


async def plan_legacy(
    session: AsyncSession,
    scope: Scope,
    *,
    shooting_id: uuid.UUID,
    look_id: uuid.UUID | None,
    request: ShotGenerateRequest,
    run_id: str,
    only_missing: bool,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """A run from before batch rows: a pending generation per shot of the shooting (or
    look), all at once: [(generation id, shot id)]."""
    query = (
        shot_service.with_current_revision(select(Shot.id, shot_service.status_column()))
        .where(Shot.shooting_id == shooting_id, scope.filter(Shot))
        .order_by(Shot.look_id, Shot.position, Shot.id)
    )
    if look_id is not None:
        query = query.where(Shot.look_id == look_id)
    planned = []
    for shot_id, status in (await session.execute(query)).all():
        if only_missing and status == RevisionStatus.APPROVED.value:
            continue
        planned_id = uuid.uuid5(BATCH_NAMESPACE, f"{run_id}:{shot_id}")
        if await session.get(Generation, planned_id) is None:
            try:
                await generations.create_for_shot(
                    session, scope, shot_id, request, autogenerated=True, generation_id=planned_id
                )
            except RuleBroken:
                continue  # these runs have no row to record the reason on
        planned.append((planned_id, shot_id))
    return planned
