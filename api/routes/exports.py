"""Exports: start (zip or webhook), list, read (with the download link), cancel."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PageDep, ScopeDep, SessionDep, SettingsDep, StoreDep, TemporalDep
from api.rate_limits import ExportLimit
from core import outbound
from core.config import Settings
from core.starts import start_export
from core.storage import ObjectStore
from core.temporal import ui_url
from models.base import Page
from models.export_schemas import ExportCreate, ExportPublic
from models.jobs import Export, JobStatus
from services import exports, run_labels
from services.errors import WorkflowUnavailable

router = APIRouter(prefix="/exports", tags=["exports"])

DOWNLOAD_LINK_SECONDS = 3600


async def _public(store: ObjectStore, settings: Settings, export: Export) -> ExportPublic:
    key = exports.download_key(export)
    url = None
    if key:
        # Signing is local work, but boto3 stays off the event loop everywhere.
        url = await asyncio.to_thread(store.presigned_get, key, expires_in=DOWNLOAD_LINK_SECONDS)
    return exports.public(export, ui_url=lambda wid: ui_url(settings, wid), download_url=url)


@router.post("/", status_code=202)
async def create_export(
    body: ExportCreate,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    temporal: TemporalDep,
    _limit: ExportLimit,
) -> ExportPublic:
    """Export the images of a shooting or of chosen shots (their current revisions; only
    approved ones unless `only_approved` is false), converted to `format`, fitted within
    `max_dimension` and named by `naming_template` (placeholders: sku, product, shot_type,
    look, shooting, n = the image's number in its shot, shot_id; `_2`, `_3`… on collision).

    - `zip`: one archive with a `manifest.csv`; GET /exports/{id} gives `download_url` once
      completed.
    - `webhook`: one `multipart/form-data` POST per image to `webhook_url`, parts `metadata`
      (JSON) and `file`, signed `X-Sartiq-Signature: sha256=<hex HMAC-SHA256 of the body,
      keyed with webhook_secret>`; `X-Sartiq-Delivery: <export id>:<index>` is stable across
      retries. 5xx/408/429/network errors are retried with backoff; an image still refused
      counts in `failed_images` and the others go on.

    Follow it on the WebSocket (`export.updated|completed|failed`) or GET /exports/{id}."""
    export = await exports.create(session, scope, body, allow=outbound.allow_list(settings))
    await session.commit()
    label = await run_labels.export(session, export)
    client = await temporal.get()
    try:
        await start_export(
            client,
            export_id=export.id,
            organization_id=export.organization_id,
            owner_id=export.owner_id,
            shooting_id=export.shooting_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
            label=label,
        )
    except RPCError as error:
        # The row is committed and stays `pending`; starting it again is idempotent.
        raise WorkflowUnavailable(f"Export saved but could not start yet: {error}") from error
    return await _public(store, settings, export)


@router.get("/")
async def list_exports(
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    page: PageDep,
    status: JobStatus | None = None,
    shooting_id: uuid.UUID | None = None,
) -> Page[ExportPublic]:
    rows, count = await exports.list_(
        session, scope, skip=page.skip, limit=page.limit, status=status, shooting_id=shooting_id
    )
    return Page(data=[await _public(store, settings, row) for row in rows], count=count)


@router.get("/{export_id}")
async def read_export(
    export_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
) -> ExportPublic:
    """Status, progress and counts; `download_url` once a zip export has completed."""
    return await _public(store, settings, await exports.get(session, scope, export_id))


@router.post("/{export_id}/cancel", status_code=202)
async def cancel_export(
    export_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    temporal: TemporalDep,
) -> ExportPublic:
    """Ask the workflow to stop: running work is cancelled, a partial upload aborted, and
    the export ends `cancelled`. 409 when it has already finished."""
    export = await exports.get(session, scope, export_id, for_update=True)
    exports.ensure_cancellable(export)
    client = await temporal.get()
    try:
        await client.get_workflow_handle(exports.workflow_id(export.id)).cancel()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise WorkflowUnavailable(f"Could not reach the export's workflow: {error}") from error
        # Never started (Temporal was down at creation): nothing runs, end it here.
        exports.finish(
            export,
            status=JobStatus.CANCELLED,
            processed=0,
            failed=0,
            result_key=None,
            error_message="Cancelled by request",
        )
        await session.commit()
    return await _public(store, settings, export)
