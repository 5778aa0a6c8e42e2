"""Queries of the maintenance jobs: deletion dead letters, orphaned media rows and objects,
maintenance reports, and generations whose workflow may be gone."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, GenerationStatus, Prediction
from models.jobs import JobStatus, MaintenanceReport
from models.media import MediaDeletionDeadLetter, MediaResource, MediaResourceAttachment
from services.repository import list_rows

# --- media still in use ------------------------------------------------------------------


def _unused() -> list[ColumnElement[bool]]:
    """A media row nothing points at: no attachment, and no prediction showing it (the
    images of an AGENTIC generation's losing tries have no attachment but are still listed
    under GET /predictions, so they are not orphans)."""
    return [
        ~exists().where(MediaResourceAttachment.media_resource_id == MediaResource.id),
        ~exists().where(Prediction.media_resource_id == MediaResource.id),
    ]


async def key_in_use(session: AsyncSession, storage_key: str) -> bool:
    """A row owns this key again: media ids derive from the content hash, so the same
    bytes uploaded after a deletion come back at the same key."""
    found = await session.scalar(
        select(MediaResource.id).where(MediaResource.storage_key == storage_key)
    )
    return found is not None


def media_id_of_key(key: str) -> uuid.UUID | None:
    """`media/{id}/file.{ext}` -> id (None for keys outside the canonical layout)."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "media":
        return None
    try:
        return uuid.UUID(parts[1])
    except ValueError:
        return None


async def keys_with_rows(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The keys a media row still owns, by its storage key or by the id in the key (so a
    row whose extension changed keeps its object)."""
    if not keys:
        return set()
    ids = {k: media_id_of_key(k) for k in keys}
    wanted_ids = [i for i in ids.values() if i is not None]
    rows = await session.execute(
        select(MediaResource.id, MediaResource.storage_key).where(
            or_(MediaResource.storage_key.in_(keys), MediaResource.id.in_(wanted_ids))
        )
    )
    owned_keys, owned_ids = set(), set()
    for media_id, storage_key in rows.all():
        owned_keys.add(storage_key)
        owned_ids.add(media_id)
    return {k for k in keys if k in owned_keys or ids[k] in owned_ids}


# --- orphaned rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class OrphanCandidate:
    id: uuid.UUID
    storage_key: str
    protected: bool


async def orphan_candidates(
    session: AsyncSession, *, after: uuid.UUID | None, created_before: datetime, limit: int
) -> list[OrphanCandidate]:
    """One page (keyset on id) of unused rows older than the cutoff, protected included
    so that the scan can count what it skipped."""
    query = (
        select(MediaResource.id, MediaResource.storage_key, MediaResource.protected)
        .where(MediaResource.created_at < created_before, *_unused())
        .order_by(MediaResource.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(MediaResource.id > after)
    rows = await session.execute(query)
    return [OrphanCandidate(*row) for row in rows.all()]


async def delete_orphan_rows(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, created_before: datetime
) -> list[tuple[uuid.UUID, str]]:
    """Delete the rows that are still orphans now (the conditions are re-checked in the
    DELETE itself: a row attached or protected since the page was read stays)."""
    if not ids:
        return []
    result = await session.execute(
        sa.delete(MediaResource)
        .where(
            MediaResource.id.in_(ids),
            MediaResource.protected.is_(False),
            MediaResource.created_at < created_before,
            *_unused(),
        )
        .returning(MediaResource.id, MediaResource.storage_key)
    )
    return [(row[0], row[1]) for row in result.all()]


# --- dead letters ------------------------------------------------------------------------


async def record_dead_letter(
    session: AsyncSession,
    *,
    storage_key: str,
    media_resource_id: uuid.UUID | None,
    error_message: str,
    attempted: bool = True,
) -> None:
    """Insert the key's dead letter, or count one more failed round on it (and reopen it
    if it had been resolved: the key failed again). `attempted` False records a deletion
    that never ran (its workflow could not start): due at once, no round counted."""
    now = datetime.now(UTC)
    rounds = 1 if attempted else 0
    statement = insert(MediaDeletionDeadLetter).values(
        id=uuid.uuid4(),
        storage_key=storage_key,
        media_resource_id=media_resource_id,
        error_message=error_message,
        attempts=rounds,
        created_at=now,
        last_attempted_at=now if attempted else None,
        resolved_at=None,
    )
    table = MediaDeletionDeadLetter.__table__  # type: ignore[attr-defined]
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["storage_key"],
            set_={
                "attempts": table.c.attempts + rounds,
                "error_message": error_message,
                "last_attempted_at": now if attempted else table.c.last_attempted_at,
                "resolved_at": None,
            },
        )
    )


async def due_dead_letters(
    session: AsyncSession,
    *,
    limit: int,
    max_attempts: int,
    backoff_base_seconds: int,
    backoff_max_seconds: int,
    storage_keys: Sequence[str] | None = None,
    attempted_before: datetime | None = None,
) -> list[MediaDeletionDeadLetter]:
    """Unresolved letters whose backoff (base * 2**(attempts-1), capped) has passed, locked
    for this batch; rows another run holds are skipped, not waited for."""
    backoff = func.least(
        backoff_base_seconds
        * func.power(2.0, func.greatest(MediaDeletionDeadLetter.attempts - 1, 0)),
        backoff_max_seconds,
    )
    due_at = MediaDeletionDeadLetter.last_attempted_at + func.make_interval(
        0, 0, 0, 0, 0, 0, backoff
    )
    query = (
        select(MediaDeletionDeadLetter)
        .where(
            MediaDeletionDeadLetter.resolved_at.is_(None),
            MediaDeletionDeadLetter.attempts < max_attempts,
            or_(MediaDeletionDeadLetter.last_attempted_at.is_(None), due_at <= func.now()),
        )
        .order_by(MediaDeletionDeadLetter.last_attempted_at.asc().nulls_first())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if storage_keys is not None:
        query = query.where(MediaDeletionDeadLetter.storage_key.in_(storage_keys))
    if attempted_before is not None:
        query = query.where(
            or_(
                MediaDeletionDeadLetter.last_attempted_at.is_(None),
                MediaDeletionDeadLetter.last_attempted_at < attempted_before,
            )
        )
    return list(await session.scalars(query))


async def given_up_dead_letters(
    session: AsyncSession, *, max_attempts: int, storage_keys: Sequence[str] | None = None
) -> list[str]:
    """Keys no automatic retry will touch again: they need a person."""
    query = select(MediaDeletionDeadLetter.storage_key).where(
        MediaDeletionDeadLetter.resolved_at.is_(None),
        MediaDeletionDeadLetter.attempts >= max_attempts,
    )
    if storage_keys is not None:
        query = query.where(MediaDeletionDeadLetter.storage_key.in_(storage_keys))
    return list(await session.scalars(query.limit(1000)))


async def list_dead_letters(
    session: AsyncSession, *, skip: int, limit: int, unresolved_only: bool
) -> tuple[list[MediaDeletionDeadLetter], int]:
    where = [MediaDeletionDeadLetter.resolved_at.is_(None)] if unresolved_only else []
    return await list_rows(session, MediaDeletionDeadLetter, where=where, skip=skip, limit=limit)


# --- reports -----------------------------------------------------------------------------


async def start_report(
    session: AsyncSession, *, kind: str, dry_run: bool, workflow_id: str | None
) -> MaintenanceReport:
    now = datetime.now(UTC)
    report = MaintenanceReport(
        kind=kind,
        dry_run=dry_run,
        status=JobStatus.RUNNING,
        workflow_id=workflow_id,
        started_at=now,
    )
    session.add(report)
    await session.flush()
    return report


async def running_report(
    session: AsyncSession, *, kind: str, workflow_id: str
) -> MaintenanceReport | None:
    """The report a retried start activity already created for this run."""
    return await session.scalar(
        select(MaintenanceReport).where(
            MaintenanceReport.kind == kind,
            MaintenanceReport.workflow_id == workflow_id,
            MaintenanceReport.status == JobStatus.RUNNING,
        )
    )


async def finish_report(
    session: AsyncSession,
    report_id: uuid.UUID,
    *,
    status: JobStatus,
    counts: dict[str, int],
    details: dict[str, Any],
) -> None:
    report = await session.get(MaintenanceReport, report_id, with_for_update=True)
    if report is None:
        return
    report.status = status
    report.counts = dict(counts)
    report.details = {**report.details, **details}
    report.completed_at = datetime.now(UTC)


async def record_report(
    session: AsyncSession,
    *,
    kind: str,
    workflow_id: str | None,
    counts: dict[str, int],
    details: dict[str, Any],
) -> None:
    """A finished one-shot run (dead-letter retry)."""
    report = await start_report(session, kind=kind, dry_run=False, workflow_id=workflow_id)
    await finish_report(
        session, report.id, status=JobStatus.COMPLETED, counts=counts, details=details
    )


async def list_reports(
    session: AsyncSession, *, kind: str | None, skip: int, limit: int
) -> tuple[list[MaintenanceReport], int]:
    where = [MaintenanceReport.kind == kind] if kind else []
    return await list_rows(session, MaintenanceReport, where=where, skip=skip, limit=limit)


# --- generations that may have lost their workflow ---------------------------------------


async def stuck_generations(
    session: AsyncSession,
    *,
    pending_before: datetime,
    processing_before: datetime,
    limit: int,
    ids: Iterable[uuid.UUID] | None = None,
) -> list[Generation]:
    """Pending generations untouched for a while and processing ones whose last change is
    old: candidates only, the workflow's state decides (a healthy long run is left)."""
    query = (
        select(Generation)
        .where(
            or_(
                (Generation.status == GenerationStatus.PENDING)
                & (Generation.updated_at < pending_before),
                (Generation.status == GenerationStatus.PROCESSING)
                & (Generation.updated_at < processing_before),
            )
        )
        .order_by(Generation.updated_at)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(Generation.id.in_(list(ids)))
    return list(await session.scalars(query))
