"""Bulk uploads: a CSV of products, processed by BulkUploadWorkflow (org-scoped)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from temporalio.service import RPCError

from api.deps import PageDep, ScopeDep, SessionDep, SettingsDep, StoreDep, TemporalDep
from api.rate_limits import BulkUploadLimit
from core.config import Settings
from core.starts import bulk_upload_workflow_id, start_bulk_upload
from core.storage import ObjectStore
from core.temporal import ui_url
from models.base import Page
from models.jobs import BulkUpload, JobStatus
from services import bulk_uploads, run_labels
from services.bulk_uploads import BulkUploadPublic, PayloadTooLarge, RowErrorPublic
from services.errors import BadRequest, DomainError, WorkflowUnavailable

router = APIRouter(prefix="/bulk-uploads", tags=["bulk-uploads"])
log = logging.getLogger(__name__)

CSV_CONTENT_TYPES = ("text/csv", "application/csv", "application/vnd.ms-excel", "text/plain")
# Multipart framing around the file (boundaries, part headers) on top of the file itself.
MULTIPART_SLACK_BYTES = 64 * 1024


class UnsupportedMediaType(DomainError):
    status_code = 415


class FromUpload(BaseModel):
    """A CSV already uploaded with POST /uploads/presigned-url (purpose `bulk_csv`)."""

    temp_key: str = Field(min_length=1, max_length=1024)
    filename: str | None = Field(default=None, max_length=255)


_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The CSV (UTF-8, optional BOM), at most 200 MB.",
                    }
                },
            }
        },
        "application/json": {"schema": FromUpload.model_json_schema()},
    },
}


async def _public(store: ObjectStore, settings: Settings, upload: BulkUpload) -> BulkUploadPublic:
    report_url = None
    if upload.error_report_key:
        report_url = await asyncio.to_thread(
            store.presigned_get, upload.error_report_key, expires_in=900
        )
    return bulk_uploads.public(
        upload, ui_url=lambda wid: ui_url(settings, wid), report_url=report_url
    )


async def _receive(
    request: Request, store: ObjectStore, settings: Settings, upload_id: uuid.UUID
) -> tuple[str | None, str | None]:
    """Put the request's CSV at the upload's source key; returns its file name and the
    temp key it was copied from (deleted only once the upload's row is committed)."""
    key = bulk_uploads.source_key(upload_id)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        declared = request.headers.get("content-length", "")
        if (
            declared.isdigit()
            and int(declared) > settings.BULK_UPLOAD_MAX_CSV_BYTES + MULTIPART_SLACK_BYTES
        ):
            raise PayloadTooLarge(
                f"The CSV is larger than {settings.BULK_UPLOAD_MAX_CSV_BYTES // (1024 * 1024)} MB"
            )
        form = await request.form(max_files=1, max_fields=1)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("Send the CSV as the multipart field `file`")
        name = (file.filename or "").lower()
        content_type = (file.content_type or "").split(";")[0].strip().lower()
        if not name.endswith(".csv") and content_type not in CSV_CONTENT_TYPES:
            raise BadRequest("Only CSV files are accepted (a .csv file or a text/csv part)")
        await asyncio.to_thread(
            bulk_uploads.store_local_csv,
            store,
            file.file,
            key,
            max_bytes=settings.BULK_UPLOAD_MAX_CSV_BYTES,
        )
        return file.filename, None
    if media_type == "application/json":
        try:
            body = FromUpload.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False)) from error
        await asyncio.to_thread(
            bulk_uploads.adopt_temp_upload,
            store,
            body.temp_key,
            key,
            max_bytes=settings.BULK_UPLOAD_MAX_CSV_BYTES,
        )
        name = body.filename or body.temp_key.rsplit("/", 1)[-1].split("_", 2)[-1]
        return name, body.temp_key
    raise UnsupportedMediaType("Send multipart/form-data with a `file`, or JSON with a `temp_key`")


@router.post("/", status_code=202, openapi_extra={"requestBody": _BODY})
async def create_bulk_upload(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    temporal: TemporalDep,
    _limit: BulkUploadLimit,
) -> BulkUploadPublic:
    """Upload a CSV of products and process it in the background.

    Columns: `sku` and `name` (required), `product_family`, `product_type`, `description`,
    `cover_image_url`, `back_image_url`, `tags` (separated by `|` or `,`). Products are
    created or updated by SKU within the scope; an empty cell leaves the existing value.
    The header is checked at once (400 naming the problem); each row is then checked on its
    own, and a bad row (missing field, SKU repeated in the file, bad or private URL, image
    unreachable, too big or not an image) is reported without stopping the others. Follow it
    with GET /bulk-uploads/{id} or the `bulk_upload.*` WebSocket events.
    """
    upload_id = uuid.uuid4()
    filename, consumed = await _receive(request, store, settings, upload_id)
    upload = await bulk_uploads.create(
        session,
        scope,
        upload_id=upload_id,
        filename=filename,
        workflow_id=bulk_upload_workflow_id(upload_id),
    )
    await session.commit()
    if consumed:
        try:
            await asyncio.to_thread(store.delete, consumed)
        except (BotoCoreError, ClientError) as error:
            # The copy is the upload's now; the orphan scan's temp TTL removes this one.
            log.warning("could not delete consumed upload %s: %s", consumed, error)
    label = await run_labels.bulk_upload(session, upload)
    try:
        client = await temporal.get()
        await start_bulk_upload(
            client,
            upload_id=upload.id,
            organization_id=upload.organization_id,
            owner_id=upload.owner_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
            label=label,
        )
    except (RPCError, RuntimeError) as error:
        bulk_uploads.fail_to_start(upload, str(error))
        await session.commit()
        raise WorkflowUnavailable(f"Could not start the bulk upload: {error}") from error
    return await _public(store, settings, upload)


@router.get("/")
async def list_bulk_uploads(
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    page: PageDep,
    status: JobStatus | None = None,
) -> Page[BulkUploadPublic]:
    rows, count = await bulk_uploads.list_(
        session, scope, skip=page.skip, limit=page.limit, status=status
    )
    return Page(data=[await _public(store, settings, r) for r in rows], count=count)


@router.get("/{bulk_upload_id}")
async def read_bulk_upload(
    bulk_upload_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
) -> BulkUploadPublic:
    """Status and counts; `error_report_url` (short-lived) once a report with the failed
    rows exists (`row_number,sku,field,message`)."""
    return await _public(store, settings, await bulk_uploads.get(session, scope, bulk_upload_id))


@router.get("/{bulk_upload_id}/errors")
async def list_bulk_upload_errors(
    bulk_upload_id: uuid.UUID, session: SessionDep, scope: ScopeDep, page: PageDep
) -> Page[RowErrorPublic]:
    """The failed rows so far, by row number (the header is row 1)."""
    upload = await bulk_uploads.get(session, scope, bulk_upload_id)
    rows, count = await bulk_uploads.list_errors(session, upload, skip=page.skip, limit=page.limit)
    return Page(
        data=[RowErrorPublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )


@router.post("/{bulk_upload_id}/cancel", status_code=202)
async def cancel_bulk_upload(
    bulk_upload_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    temporal: TemporalDep,
) -> BulkUploadPublic:
    """Stop processing: the status becomes `cancelled` at once and no further row is
    written. Rows already processed stay as they are (products created or updated so far are
    kept, their errors stay listed); the error report covers them. 409 once finished."""
    upload = await bulk_uploads.get(session, scope, bulk_upload_id, for_update=True)
    bulk_uploads.cancel(upload)
    await session.commit()
    try:
        client = await temporal.get()
        await client.get_workflow_handle(bulk_upload_workflow_id(upload.id)).signal("cancel")
    except (RPCError, RuntimeError) as error:
        # The row says cancelled: the workflow's next chunk sees it and stops by itself.
        log.warning("could not signal the cancel of bulk upload %s: %s", upload.id, error)
    return await _public(store, settings, upload)
