"""Superuser maintenance: on-demand orphan scans, maintenance reports, dead letters and
usage reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlmodel import SQLModel
from temporalio.service import RPCError

from api.deps import PageDep, SessionDep, SettingsDep, TemporalDep, get_current_superuser
from core.starts import start_orphan_scan
from core.temporal import ui_url
from models.base import Page
from models.jobs import JobStatus
from services import maintenance, usage
from services.errors import WorkflowUnavailable
from workflows.maintenance_types import OrphanScanInput

router = APIRouter(
    prefix="/admin", tags=["maintenance"], dependencies=[Depends(get_current_superuser)]
)


class MaintenanceStarted(BaseModel):
    workflow_id: str
    temporal_ui_url: str | None
    dry_run: bool


class MaintenanceReportPublic(SQLModel):
    id: uuid.UUID
    kind: str
    dry_run: bool
    status: JobStatus
    workflow_id: str | None
    counts: dict[str, Any]
    details: dict[str, Any]
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class DeadLetterPublic(SQLModel):
    id: uuid.UUID
    storage_key: str
    media_resource_id: uuid.UUID | None
    error_message: str | None
    attempts: int
    created_at: datetime
    last_attempted_at: datetime | None
    resolved_at: datetime | None


class UsageReportPublic(SQLModel):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    report_date: date
    generations_by_status: dict[str, Any]
    predictions: int
    exports: int
    storage_bytes: int
    # Seconds queued, computing, ingesting and in total, summed over the day's generations.
    timings: dict[str, float] = {}
    updated_at: datetime


@router.post("/maintenance/orphan-scan", status_code=202)
async def run_orphan_scan(
    settings: SettingsDep, temporal: TemporalDep, dry_run: bool = True
) -> MaintenanceStarted:
    """Start an orphan scan now (a dry run by default: it counts and deletes nothing).
    Its report appears under GET /admin/maintenance/reports."""
    try:
        client = await temporal.get()
        handle = await start_orphan_scan(
            client,
            OrphanScanInput(dry_run=dry_run),
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
        )
    except (RPCError, RuntimeError) as error:
        raise WorkflowUnavailable(f"Could not start the orphan scan: {error}") from error
    return MaintenanceStarted(
        workflow_id=handle.id, temporal_ui_url=ui_url(settings, handle.id), dry_run=dry_run
    )


@router.get("/maintenance/reports")
async def list_maintenance_reports(
    session: SessionDep,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[MaintenanceReportPublic]:
    rows, count = await maintenance.list_reports(
        session, kind=kind, skip=page.skip, limit=page.limit
    )
    return Page(data=[MaintenanceReportPublic.model_validate(r) for r in rows], count=count)


@router.get("/maintenance/dead-letters")
async def list_dead_letters(
    session: SessionDep, page: PageDep, unresolved: bool = True
) -> Page[DeadLetterPublic]:
    """Object deletions that failed; the scheduled retry works through the unresolved."""
    rows, count = await maintenance.list_dead_letters(
        session, skip=page.skip, limit=page.limit, unresolved_only=unresolved
    )
    return Page(data=[DeadLetterPublic.model_validate(r) for r in rows], count=count)


@router.get("/usage-reports")
async def list_usage_reports(
    session: SessionDep,
    page: PageDep,
    organization_id: uuid.UUID | None = None,
    personal: Annotated[bool, Query(description="Only the personal-usage rows.")] = False,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Page[UsageReportPublic]:
    rows, count = await usage.list_reports(
        session,
        skip=page.skip,
        limit=page.limit,
        organization_id=organization_id,
        personal=personal,
        date_from=date_from,
        date_to=date_to,
    )
    return Page(data=[UsageReportPublic.model_validate(r) for r in rows], count=count)
