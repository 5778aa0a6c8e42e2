"""Exports: creation and reads for the API, and the state changes ExportWorkflow's
activities make (each idempotent)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbound
from models.export_schemas import ExportCreate, ExportPublic
from models.jobs import JOB_FINAL_STATUSES, Export, ExportTarget, JobStatus
from models.shooting import Shooting
from models.shot import Shot
from services.errors import Conflict, NotFound, Unprocessable
from services.repository import ensure_visible, get_row, list_rows
from services.tenancy import Scope


def workflow_id(export_id: uuid.UUID | str) -> str:
    return f"export-{export_id}"


async def create(
    session: AsyncSession,
    scope: Scope,
    body: ExportCreate,
    *,
    allow: outbound.AllowList = outbound.STRICT,
) -> Export:
    """A pending export; the shooting or every shot must be inside the caller's scope, and
    a webhook target must pass the outbound guard (checked again at every delivery)."""
    if body.webhook_url is not None:
        try:
            await outbound.check_url_async(str(body.webhook_url), allow)
        except outbound.OutboundError as error:
            raise Unprocessable("webhook_url", error.message) from None
    if body.shooting_id is not None:
        await get_row(
            session, Shooting, body.shooting_id, where=scope.filter(Shooting), what="Shooting"
        )
    shot_ids = list(dict.fromkeys(body.shot_ids or []))  # de-duplicated, order kept
    await ensure_visible(session, Shot, shot_ids, where=scope.filter(Shot), what="Shot")
    export_id = uuid.uuid4()
    export = scope.stamp(
        Export(
            id=export_id,
            shooting_id=body.shooting_id,
            shot_ids=[str(s) for s in shot_ids],
            only_approved=body.only_approved,
            format=body.format,
            max_dimension=body.max_dimension,
            naming_template=body.naming_template,
            target=body.target,
            webhook_url=str(body.webhook_url) if body.webhook_url else None,
            webhook_secret=body.webhook_secret,
            workflow_id=workflow_id(export_id),
        )
    )
    session.add(export)
    await session.flush()
    return export


async def get(
    session: AsyncSession, scope: Scope, export_id: uuid.UUID, *, for_update: bool = False
) -> Export:
    return await get_row(
        session,
        Export,
        export_id,
        where=scope.filter(Export),
        what="Export",
        for_update=for_update,
    )


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    status: JobStatus | None = None,
    shooting_id: uuid.UUID | None = None,
) -> tuple[list[Export], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Export)]
    if status is not None:
        where.append(Export.status == status)
    if shooting_id is not None:
        where.append(Export.shooting_id == shooting_id)
    return await list_rows(session, Export, where=where, skip=skip, limit=limit)


def download_key(export: Export) -> str | None:
    """The archive a client may download: only a completed zip export has one."""
    if export.status == JobStatus.COMPLETED and export.target == ExportTarget.ZIP:
        return export.result_key
    return None


def public(
    export: Export, *, ui_url: Callable[[str | None], str | None], download_url: str | None = None
) -> ExportPublic:
    """The API view (never the webhook secret)."""
    return ExportPublic.model_validate(
        export,
        update={"temporal_ui_url": ui_url(export.workflow_id), "download_url": download_url},
    )


def ensure_cancellable(export: Export) -> None:
    if export.status in JOB_FINAL_STATUSES:
        raise Conflict(f"Export is already {export.status.value}")


# -- worker side ------------------------------------------------------------------------


async def load_for_update(session: AsyncSession, export_id: uuid.UUID) -> Export:
    export = await session.scalar(select(Export).where(Export.id == export_id).with_for_update())
    if export is None:
        raise NotFound("Export not found")
    return export


def mark_running(export: Export, total: int) -> bool:
    """pending → running with its image count; False when the export already ended."""
    if export.status in JOB_FINAL_STATUSES:
        return False
    if export.status == JobStatus.PENDING:
        export.status = JobStatus.RUNNING
        export.started_at = datetime.now(UTC)
    export.total_images = total
    return True


def set_progress(export: Export, processed: int, failed: int) -> bool:
    """Counts only move forward (a late or repeated report changes nothing)."""
    if export.status in JOB_FINAL_STATUSES or processed + failed <= (
        export.processed_images + export.failed_images
    ):
        return False
    export.processed_images = processed
    export.failed_images = failed
    total = max(export.total_images, processed + failed, 1)
    export.progress = round(min(1.0, (processed + failed) / total), 4)
    return True


def finish(
    export: Export,
    *,
    status: JobStatus,
    processed: int,
    failed: int,
    result_key: str | None,
    error_message: str | None,
) -> bool:
    """The final state; False when the export had already ended (a retried finish)."""
    if export.status in JOB_FINAL_STATUSES:
        return False
    export.status = status
    export.processed_images = processed
    export.failed_images = failed
    if status == JobStatus.COMPLETED:
        export.progress = 1.0
        export.result_key = result_key
    export.error_message = error_message
    export.completed_at = datetime.now(UTC)
    return True


async def mark_shots_exported(
    session: AsyncSession, shot_ids: Iterable[uuid.UUID], when: datetime
) -> None:
    ids = sorted(set(shot_ids))
    if ids:
        await session.execute(update(Shot).where(Shot.id.in_(ids)).values(exported_at=when))
