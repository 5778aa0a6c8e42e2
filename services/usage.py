"""Daily usage per organization (and one row for all personal usage): what was generated,
predicted and exported that day, and the storage held at its end."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, GenerationStatus, Prediction, PredictionStatus
from models.jobs import Export, UsageReport
from models.media import MediaResource
from services.repository import list_rows
from services.timings import FIGURES

OrgKey = uuid.UUID | None  # None: personal usage of every user, summed


@dataclass
class Usage:
    generations_by_status: dict[str, int] = field(default_factory=dict)
    predictions: int = 0
    exports: int = 0
    storage_bytes: int = 0
    # Seconds queued, computing, ingesting and in total (services/timings.py), summed.
    timings: dict[str, float] = field(default_factory=dict)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def compute(session: AsyncSession, day: date) -> dict[OrgKey, Usage]:
    """Generations, predictions and exports created during the (UTC) day, and the bytes of
    the media that existed at its end (rows deleted since are not counted: they are gone)."""
    start, end = day_bounds(day)
    usage: dict[OrgKey, Usage] = defaultdict(Usage)

    def during(model: Any) -> list[ColumnElement[bool]]:
        return [model.created_at >= start, model.created_at < end]

    generations = await session.execute(
        select(Generation.organization_id, Generation.status, func.count())
        .where(*during(Generation))
        .group_by(Generation.organization_id, Generation.status)
    )
    for org, status, count in generations.all():
        usage[org].generations_by_status[status.value] = int(count)
    # Predictions are outputs: the placeholders of a generation that failed are not.
    completed = Prediction.status == PredictionStatus.COMPLETED
    for model, attr, where in (
        (Prediction, "predictions", [completed]),
        (Export, "exports", []),
    ):
        rows = await session.execute(
            select(model.organization_id, func.count())
            .where(*during(model), *where)
            .group_by(model.organization_id)
        )
        for org, count in rows.all():
            setattr(usage[org], attr, int(count))
    await _timings(session, during(Generation), usage)
    storage = await session.execute(
        select(MediaResource.organization_id, func.coalesce(func.sum(MediaResource.file_size), 0))
        .where(MediaResource.created_at < end)
        .group_by(MediaResource.organization_id)
    )
    for org, total in storage.all():
        if total:
            usage[org].storage_bytes = int(total)
    return dict(usage)


async def _timings(
    session: AsyncSession, during: list[ColumnElement[bool]], usage: dict[OrgKey, Usage]
) -> None:
    """The day's generations' timings summed per organization (only ended ones carry the
    four figures; a running one holds its marks)."""
    column = Generation.__table__.c.timings  # type: ignore[attr-defined]
    ended = [GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED]
    sums = [func.coalesce(func.sum(column[key].astext.cast(sa.Float)), 0.0) for key in FIGURES]
    rows = await session.execute(
        select(Generation.organization_id, *sums)
        .where(*during, column.is_not(None), Generation.status.in_(ended))
        .group_by(Generation.organization_id)
    )
    for org, *seconds in rows.all():
        figures = zip(FIGURES, seconds, strict=True)
        usage[org].timings = {key: round(float(value), 3) for key, value in figures}


async def write(session: AsyncSession, day: date, usage: dict[OrgKey, Usage]) -> int:
    """Replace the day's rows with `usage` (a rerun or a backfill converges on one row per
    organization and one personal row). Serialized per day with an advisory lock, because
    the unique (organization_id, report_date) does not hold for the personal row: Postgres
    treats NULLs as distinct."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"usage_report:{day.isoformat()}")))
    )
    now = datetime.now(UTC)
    table = UsageReport.__table__  # type: ignore[attr-defined]
    for org, figures in usage.items():
        values = {
            "generations_by_status": figures.generations_by_status,
            "predictions": figures.predictions,
            "exports": figures.exports,
            "storage_bytes": figures.storage_bytes,
            "timings": figures.timings,
            "updated_at": now,
        }
        if org is not None:
            await session.execute(
                insert(table)
                .values(
                    id=uuid.uuid4(), organization_id=org, report_date=day, created_at=now, **values
                )
                .on_conflict_do_update(
                    constraint="uq_usage_report_organization_id_report_date", set_=values
                )
            )
            continue
        updated = await session.execute(
            sa.update(table)
            .where(table.c.organization_id.is_(None), table.c.report_date == day)
            .values(**values)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            await session.execute(
                insert(table).values(
                    id=uuid.uuid4(), organization_id=None, report_date=day, created_at=now, **values
                )
            )
    # Organizations with nothing left to report that day (their data was deleted).
    stale = sa.delete(table).where(table.c.report_date == day)
    orgs = [o for o in usage if o is not None]
    if orgs:
        stale = stale.where(
            sa.or_(table.c.organization_id.is_(None), table.c.organization_id.not_in(orgs))
        )
    if None in usage:
        stale = stale.where(table.c.organization_id.is_not(None))
    await session.execute(stale)
    return len(usage)


async def list_reports(
    session: AsyncSession,
    *,
    skip: int,
    limit: int,
    organization_id: uuid.UUID | None = None,
    personal: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[list[UsageReport], int]:
    where: list[ColumnElement[bool]] = []
    if organization_id is not None:
        where.append(UsageReport.organization_id == organization_id)
    elif personal:
        where.append(UsageReport.organization_id.is_(None))
    if date_from is not None:
        where.append(UsageReport.report_date >= date_from)
    if date_to is not None:
        where.append(UsageReport.report_date <= date_to)
    return await list_rows(
        session,
        UsageReport,
        where=where,
        skip=skip,
        limit=limit,
        order_by=(UsageReport.report_date.desc(), UsageReport.organization_id.nulls_first()),
    )
