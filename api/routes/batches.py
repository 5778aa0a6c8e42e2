"""Batch generations of a shooting: start, list, read (with progress), cancel."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PageDep, ScopeDep, SessionDep, SettingsDep, TemporalDep
from api.rate_limits import GenerationLimit
from core.config import Settings
from core.starts import start_shooting_generation
from core.temporal import ui_url
from models.base import Page
from models.generation import ShootingGenerateRequest
from models.jobs import JobStatus
from models.shooting_generation import ShootingGeneration, ShootingGenerationPublic
from services import app_settings, batches, generation_config, generation_source, run_labels
from services.errors import WorkflowUnavailable
from workflows.batch_types import ShootingGenerationInput

router = APIRouter(tags=["generations"])

LOST = "The batch's workflow ended without finishing it"


async def _public(
    session: AsyncSession, settings: Settings, batch: ShootingGeneration
) -> ShootingGenerationPublic:
    (public,) = await batches.publics(session, [batch], ui_url=lambda w: ui_url(settings, w))
    return public


async def _running(client: Client, workflow_id: str) -> bool:
    """Whether the batch's workflow (its latest run) is running; False when there is none."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise WorkflowUnavailable(f"Could not reach the batch's workflow: {error}") from error
    return description.status == WorkflowExecutionStatus.RUNNING


def _input(
    batch: ShootingGeneration, settings: Settings, window: int, label: str | None
) -> ShootingGenerationInput:
    return ShootingGenerationInput(
        shooting_id=str(batch.shooting_id),
        user_id=str(batch.requested_by),
        organization_id=str(batch.organization_id) if batch.organization_id else None,
        look_id=str(batch.look_id) if batch.look_id else None,
        request=batch.request,
        only_missing=batch.only_missing,
        max_in_flight=window,
        batch_id=str(batch.id),
        page_size=settings.BATCH_PAGE_SIZE,
        pages_per_run=settings.BATCH_PAGES_PER_RUN,
        label=label,
    )


@router.post("/shootings/{shooting_id}/generate", status_code=202)
async def generate_shooting(
    shooting_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    _limit: GenerationLimit,
    body: ShootingGenerateRequest | None = None,
) -> ShootingGenerationPublic:
    """Generate every shot of the shooting (or of `look_id`), a bounded number at a time, as
    a batch (`id`; follow it at GET /shootings/{id}/generations/{batch id}). While a batch of
    the shooting (or look) is pending or running, a start answers that batch."""
    body = body or ShootingGenerateRequest()
    generation_config.check_request(body.config, settings)
    generation_source.check_batch(body)
    client = await temporal.get()
    batch, created = await batches.active_or_new(session, scope, shooting_id, body)
    if (
        not created
        and batches.may_have_lost_its_workflow(batch)
        and not await _running(client, batch.workflow_id or "")
    ):
        # Its start failed after the row was saved, or its run was terminated: end it, so
        # that it blocks nothing, and start a new batch.
        await batches.end_without_workflow(session, batch.id, status=JobStatus.FAILED, message=LOST)
        batch, created = await batches.active_or_new(session, scope, shooting_id, body)
    await session.commit()
    if created:
        window = await app_settings.get_value(session, settings, "max_concurrent_shot_generations")
        label = await run_labels.batch(
            session,
            batch_id=batch.id,
            shooting_id=batch.shooting_id,
            look_id=batch.look_id,
            organization_id=batch.organization_id,
            total=batch.total,
        )
        try:
            await start_shooting_generation(
                client,
                _input(batch, settings, int(window), label.summary),
                task_queue_prefix=settings.TASK_QUEUE_PREFIX,
                details=label.details,
            )
        except RPCError as error:
            await batches.end_without_workflow(
                session, batch.id, status=JobStatus.FAILED, message=f"Could not start: {error}"
            )
            await session.commit()
            raise WorkflowUnavailable(f"Could not start the batch: {error}") from error
    return await _public(session, settings, batch)


@router.get("/shootings/{shooting_id}/generate")
async def shooting_generation_progress(
    shooting_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    look_id: uuid.UUID | None = None,
) -> ShootingGenerationPublic:
    """The shooting's (or look's) latest batch, with its progress."""
    batch = await batches.latest(session, scope, shooting_id, look_id)
    return await _public(session, settings, batch)


@router.get("/shootings/{shooting_id}/generations")
async def list_shooting_generations(
    shooting_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    page: PageDep,
) -> Page[ShootingGenerationPublic]:
    """The shooting's batches, newest first."""
    rows, count = await batches.list_(session, scope, shooting_id, skip=page.skip, limit=page.limit)
    data = await batches.publics(session, rows, ui_url=lambda w: ui_url(settings, w))
    return Page(data=data, count=count)


@router.get("/shootings/{shooting_id}/generations/{batch_id}")
async def read_shooting_generation(
    shooting_id: uuid.UUID,
    batch_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
) -> ShootingGenerationPublic:
    """One batch: while it runs, its counts are its generations' statuses right now."""
    batch = await batches.get(session, scope, shooting_id, batch_id)
    return await _public(session, settings, batch)


@router.post("/shootings/{shooting_id}/generations/{batch_id}/cancel", status_code=202)
async def cancel_shooting_generation(
    shooting_id: uuid.UUID,
    batch_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> ShootingGenerationPublic:
    """Cancel the batch: its running generations are cancelled (with their compute tasks),
    those not started end `cancelled`, no new one starts. The batch ends `cancelled`."""
    batch = await batches.get(session, scope, shooting_id, batch_id)
    batches.ensure_cancellable(batch)
    client = await temporal.get()
    try:
        # No run id: the request reaches the batch's current run, whichever continued-as-new
        # run that is (children of earlier runs ended before their run continued).
        await client.get_workflow_handle(batch.workflow_id or "").cancel()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise WorkflowUnavailable(f"Could not reach the batch's workflow: {error}") from error
        # No run to cancel (never started, or closed without finishing the row): end it here.
        batch, _cancelled = await batches.end_without_workflow(
            session, batch.id, status=JobStatus.CANCELLED, message=None
        )
        await session.commit()
    return await _public(session, settings, batch)
