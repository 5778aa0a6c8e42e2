"""Shots (one per shot type of a look), their revisions and the review state machine."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.file_urls import signed_url
from models.base import utcnow
from models.media import EntityType, MediaResourceAttachment
from models.shot import (
    RevisionStatus,
    Shot,
    ShotPublic,
    ShotRevision,
    ShotRevisionPublic,
    ShotUpdate,
)
from services.errors import BadRequest, Conflict, NotFound
from services.repository import apply_update, get_row
from services.tenancy import Scope

# Review transitions: the decision -> the statuses of the current revision it may act on.
APPROVABLE = frozenset({RevisionStatus.IN_REVIEW, RevisionStatus.REJECTED})
REJECTABLE = frozenset({RevisionStatus.IN_REVIEW, RevisionStatus.APPROVED})


def status_column() -> ColumnElement[Any]:
    """THE shot status: its current revision's status, `pending` without one.

    Every query using it must outer-join the current revision (see `with_current_revision`).
    """
    return func.coalesce(ShotRevision.status, RevisionStatus.PENDING.value)


def with_current_revision(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(ShotRevision, ShotRevision.id == Shot.current_revision_id)


async def status_counts(
    session: AsyncSession, shooting_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Shots per status for each shooting, in one grouped query (zeros included)."""
    ids = list(set(shooting_ids))
    counts: dict[uuid.UUID, dict[str, int]] = {i: {s.value: 0 for s in RevisionStatus} for i in ids}
    if not ids:
        return counts
    status = status_column()
    query = with_current_revision(
        select(Shot.shooting_id, status, func.count()).select_from(Shot)
    ).where(Shot.shooting_id.in_(ids))
    for shooting_id, value, count in await session.execute(
        query.group_by(Shot.shooting_id, status)
    ):
        counts[shooting_id][RevisionStatus(value).value] = int(count)
    return counts


async def media_ids_by_revision(
    session: AsyncSession, revision_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Images of each revision (SHOT_REVISION attachments), ordered by position."""
    ids = list(set(revision_ids))
    result: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    if not ids:
        return result
    rows = await session.execute(
        select(MediaResourceAttachment.entity_id, MediaResourceAttachment.media_resource_id)
        .where(
            MediaResourceAttachment.entity_type == EntityType.SHOT_REVISION,
            MediaResourceAttachment.entity_id.in_(ids),
        )
        .order_by(
            MediaResourceAttachment.entity_id,
            MediaResourceAttachment.position.nulls_first(),
            MediaResourceAttachment.created_at,
        )
    )
    for entity_id, media_id in rows:
        result[entity_id].append(media_id)
    return result


async def revision_publics(
    session: AsyncSession, revisions: Sequence[ShotRevision]
) -> list[ShotRevisionPublic]:
    media = await media_ids_by_revision(session, (r.id for r in revisions))
    return [
        ShotRevisionPublic.model_validate(
            r,
            update={
                "media_resource_ids": media[r.id],
                "file_urls": [signed_url(m) for m in media[r.id]],
            },
        )
        for r in revisions
    ]


async def _publics(session: AsyncSession, rows: Sequence[Any]) -> list[ShotPublic]:
    """(shot, status) rows as API objects, current revisions batch-loaded."""
    revision_ids = [shot.current_revision_id for shot, _ in rows if shot.current_revision_id]
    revisions: dict[uuid.UUID, ShotRevisionPublic] = {}
    if revision_ids:
        loaded = await session.scalars(
            select(ShotRevision).where(ShotRevision.id.in_(revision_ids))
        )
        revisions = {r.id: r for r in await revision_publics(session, list(loaded))}
    return [
        ShotPublic.model_validate(
            shot,
            update={
                "status": RevisionStatus(status),
                "current_revision": revisions.get(shot.current_revision_id),  # type: ignore[arg-type]
            },
        )
        for shot, status in rows
    ]


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    shooting_id: uuid.UUID | None = None,
    look_id: uuid.UUID | None = None,
    status: RevisionStatus | None = None,
) -> tuple[list[ShotPublic], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Shot)]
    if shooting_id is not None:
        where.append(Shot.shooting_id == shooting_id)
    if look_id is not None:
        where.append(Shot.look_id == look_id)
    if status is not None:
        where.append(status_column() == status.value)
    count = await session.scalar(
        with_current_revision(select(func.count()).select_from(Shot)).where(*where)
    )
    rows = await session.execute(
        with_current_revision(select(Shot, status_column()))
        .where(*where)
        .order_by(Shot.shooting_id, Shot.look_id, Shot.position, Shot.id)
        .offset(skip)
        .limit(limit)
    )
    return await _publics(session, list(rows)), int(count or 0)


async def get(
    session: AsyncSession, scope: Scope, shot_id: uuid.UUID, *, for_update: bool = False
) -> Shot:
    return await get_row(
        session, Shot, shot_id, where=scope.filter(Shot), what="Shot", for_update=for_update
    )


async def get_public(session: AsyncSession, scope: Scope, shot_id: uuid.UUID) -> ShotPublic:
    public = await public_by_id(session, shot_id, where=scope.filter(Shot))
    if public is None:
        raise NotFound("Shot not found")
    return public


async def public_by_id(
    session: AsyncSession, shot_id: uuid.UUID, *, where: ColumnElement[bool] | None = None
) -> ShotPublic | None:
    """A shot as the API shows it; unscoped unless `where` is given (workers use it)."""
    query = with_current_revision(select(Shot, status_column())).where(Shot.id == shot_id)
    if where is not None:
        query = query.where(where)
    rows = list(await session.execute(query))
    return (await _publics(session, rows))[0] if rows else None


async def update(
    session: AsyncSession, scope: Scope, shot_id: uuid.UUID, data: ShotUpdate
) -> ShotPublic:
    if "position" in data.model_fields_set and data.position is None:
        raise BadRequest("position cannot be null")
    shot = await get(session, scope, shot_id, for_update=True)
    revision_id = data.current_revision_id
    if revision_id is not None:
        found = await session.scalar(
            select(ShotRevision.id).where(
                ShotRevision.id == revision_id, ShotRevision.shot_id == shot.id
            )
        )
        if found is None:
            raise NotFound(f"Shot revision {revision_id} not found")
    apply_update(shot, data)
    await session.flush()
    return await get_public(session, scope, shot.id)


async def list_revisions(
    session: AsyncSession, scope: Scope, shot_id: uuid.UUID, *, skip: int, limit: int
) -> tuple[list[ShotRevisionPublic], int]:
    shot = await get(session, scope, shot_id)
    count = await session.scalar(
        select(func.count()).select_from(ShotRevision).where(ShotRevision.shot_id == shot.id)
    )
    rows = await session.scalars(
        select(ShotRevision)
        .where(ShotRevision.shot_id == shot.id)
        .order_by(ShotRevision.version)
        .offset(skip)
        .limit(limit)
    )
    return await revision_publics(session, list(rows)), int(count or 0)


async def _decide(
    session: AsyncSession,
    scope: Scope,
    shot_id: uuid.UUID,
    *,
    allowed_from: frozenset[RevisionStatus],
    to: RevisionStatus,
    notes: str | None,
) -> ShotPublic:
    shot = await get(session, scope, shot_id, for_update=True)
    revision = None
    if shot.current_revision_id is not None:
        revision = await session.get(ShotRevision, shot.current_revision_id)
    if revision is None or revision.status == RevisionStatus.PENDING:
        raise Conflict("Shot has no revision in review")
    if revision.status not in allowed_from:
        raise Conflict(f"Cannot move a revision from {revision.status.value} to {to.value}")
    revision.status = to
    revision.reviewed_at = utcnow()
    revision.reviewed_by_id = scope.user_id
    if notes is not None:
        revision.notes = notes
    await session.flush()
    return await get_public(session, scope, shot.id)


async def approve(
    session: AsyncSession, scope: Scope, shot_id: uuid.UUID, *, notes: str | None = None
) -> ShotPublic:
    return await _decide(
        session, scope, shot_id, allowed_from=APPROVABLE, to=RevisionStatus.APPROVED, notes=notes
    )


async def reject(
    session: AsyncSession, scope: Scope, shot_id: uuid.UUID, *, notes: str | None = None
) -> ShotPublic:
    return await _decide(
        session, scope, shot_id, allowed_from=REJECTABLE, to=RevisionStatus.REJECTED, notes=notes
    )


async def lock(session: AsyncSession, shot_id: uuid.UUID) -> None:
    """The shot's row lock that numbers its revisions, the first lock of every transaction
    that writes under a shot (order: shot, then generation, then media by id).

    FOR NO KEY UPDATE, not FOR UPDATE: rows that reference the shot (predictions,
    revisions) take FOR KEY SHARE on it, which this lock lets through, so a transaction
    that inserted such a row first can still take it; FOR UPDATE made that an upgrade two
    concurrent completions of one shot waited on each other for (a deadlock per pair)."""
    await session.execute(select(Shot.id).where(Shot.id == shot_id).with_for_update(key_share=True))


async def create_revision(
    session: AsyncSession,
    shot: Shot,
    *,
    generation_id: uuid.UUID | None,
    status: RevisionStatus = RevisionStatus.IN_REVIEW,
) -> ShotRevision:
    """Append the next version to `shot` (row-locked) and make it the current revision."""
    await lock(session, shot.id)
    last = await session.scalar(
        select(func.max(ShotRevision.version)).where(ShotRevision.shot_id == shot.id)
    )
    revision = ShotRevision(
        shot_id=shot.id, version=int(last or 0) + 1, status=status, generation_id=generation_id
    )
    session.add(revision)
    await session.flush()
    shot.current_revision_id = revision.id
    await session.flush()
    return revision
