"""Bulk uploads of products from a CSV: the job rows, the chunk transaction that upserts
products by (scope, SKU), row errors, and the files in the bucket under `bulk-uploads/{id}/`.

Counting is exact under retries: chunks are applied in order, and the transaction that
upserts a chunk's products also advances `processed_rows` under the job's row lock, after
checking that it stands exactly at the chunk's first row. A retried chunk whose first attempt
committed finds the counter already past it and changes nothing; one whose first attempt
rolled back starts from scratch. Inside that transaction `xmax = 0` on each upserted row says
whether the INSERT created it or ON CONFLICT updated it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import IO

from pydantic import BaseModel
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.base import utcnow
from models.jobs import JOB_FINAL_STATUSES, BulkUpload, BulkUploadRowError, JobStatus
from services import csv_rows
from services.csv_safety import safe_cell
from services.errors import BadRequest, Conflict, DomainError, NotFound
from services.repository import get_row, list_rows
from services.tenancy import Scope

# Limits of the format (the size and row caps are settings: BULK_UPLOAD_MAX_CSV_BYTES, ...).
HEADER_PREFIX_BYTES = 64 * 1024  # the header must fit in the file's first 64 KiB
READ_BLOCK_BYTES = 1024 * 1024

REPORT_COLUMNS = ("row_number", "sku", "field", "message")
_TEMP_KEY = re.compile(r"^temp/[A-Za-z0-9._-]+$")


class PayloadTooLarge(DomainError):
    status_code = 413


# -- keys -------------------------------------------------------------------------------------


def source_key(upload_id: uuid.UUID | str) -> str:
    return f"bulk-uploads/{upload_id}/source.csv"


def plan_key(upload_id: uuid.UUID | str, chunk_rows: int) -> str:
    # per chunk size: a plan is immutable once written (workers cache it)
    return f"bulk-uploads/{upload_id}/plan-{chunk_rows}.json"


def images_key(upload_id: uuid.UUID | str, chunk: int) -> str:
    return f"bulk-uploads/{upload_id}/images/{chunk:06d}.json"


def report_key(upload_id: uuid.UUID | str) -> str:
    return f"bulk-uploads/{upload_id}/errors.csv"


# -- API shapes -------------------------------------------------------------------------------


class BulkUploadPublic(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    filename: str | None
    status: JobStatus
    progress: float
    total_rows: int
    processed_rows: int
    created_count: int
    updated_count: int
    failed_count: int
    error_message: str | None
    error_report_url: str | None = None
    workflow_id: str | None
    temporal_ui_url: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class RowErrorPublic(BaseModel):
    row_number: int
    sku: str | None
    field: str | None
    message: str


def public(
    upload: BulkUpload,
    *,
    ui_url: Callable[[str | None], str | None],
    report_url: str | None = None,
) -> BulkUploadPublic:
    return BulkUploadPublic.model_validate(upload, from_attributes=True).model_copy(
        update={"temporal_ui_url": ui_url(upload.workflow_id), "error_report_url": report_url}
    )


# -- the job row --------------------------------------------------------------------------------


def display_filename(name: str | None) -> str | None:
    """The client's file name as shown back: its last path part, without control or format
    characters (NUL, escapes, newlines, bidi overrides that disguise an extension), at most
    255 characters. Only for display: the bytes are stored at `source_key`."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    return cleaned[:255] or None


async def create(
    session: AsyncSession,
    scope: Scope,
    *,
    upload_id: uuid.UUID,
    filename: str | None,
    workflow_id: str,
) -> BulkUpload:
    upload = scope.stamp(
        BulkUpload(
            id=upload_id,
            filename=display_filename(filename),
            source_key=source_key(upload_id),
            workflow_id=workflow_id,
        )
    )
    session.add(upload)
    await session.flush()
    return upload


async def get(
    session: AsyncSession, scope: Scope, upload_id: uuid.UUID, *, for_update: bool = False
) -> BulkUpload:
    return await get_row(
        session,
        BulkUpload,
        upload_id,
        where=scope.filter(BulkUpload),
        what="Bulk upload",
        for_update=for_update,
    )


async def list_(
    session: AsyncSession, scope: Scope, *, skip: int, limit: int, status: JobStatus | None
) -> tuple[list[BulkUpload], int]:
    where: list[ColumnElement[bool]] = [scope.filter(BulkUpload)]
    if status is not None:
        where.append(BulkUpload.status == status)
    return await list_rows(session, BulkUpload, where=where, skip=skip, limit=limit)


async def list_errors(
    session: AsyncSession, upload: BulkUpload, *, skip: int, limit: int
) -> tuple[list[BulkUploadRowError], int]:
    where = [BulkUploadRowError.bulk_upload_id == upload.id]
    return await list_rows(
        session,
        BulkUploadRowError,
        where=where,
        skip=skip,
        limit=limit,
        order_by=[BulkUploadRowError.row_number],
    )


def cancel(upload: BulkUpload) -> None:
    """Stop at the next chunk: the chunk transaction sees the status and applies nothing."""
    if upload.status in JOB_FINAL_STATUSES:
        raise Conflict(f"Bulk upload is already {upload.status.value}")
    upload.status = JobStatus.CANCELLED


def fail_to_start(upload: BulkUpload, reason: str) -> None:
    upload.status = JobStatus.FAILED
    upload.error_message = f"Could not start processing: {reason}"
    upload.completed_at = utcnow()


async def lock(session: AsyncSession, upload_id: uuid.UUID) -> BulkUpload:
    """The job row, locked until the transaction ends (chunks and the end serialize on it)."""
    upload = await session.scalar(
        select(BulkUpload).where(BulkUpload.id == upload_id).with_for_update()
    )
    if upload is None:
        raise NotFound("Bulk upload not found")
    return upload


async def start_running(session: AsyncSession, upload_id: uuid.UUID) -> BulkUpload:
    """pending → running (a redelivered start leaves any other status alone)."""
    upload = await lock(session, upload_id)
    if upload.status == JobStatus.PENDING:
        upload.status = JobStatus.RUNNING
        upload.started_at = utcnow()
    return upload


async def set_total(session: AsyncSession, upload_id: uuid.UUID, total: int) -> BulkUpload:
    upload = await lock(session, upload_id)
    upload.total_rows = total
    if total == 0:
        upload.progress = 1.0
    return upload


# -- the end --------------------------------------------------------------------------------


async def error_report(session: AsyncSession, upload_id: uuid.UUID) -> bytes | None:
    """The row errors as CSV (`row_number,sku,field,message`), or None when there are none."""
    result = await session.stream(
        select(
            BulkUploadRowError.row_number,
            BulkUploadRowError.sku,
            BulkUploadRowError.field,
            BulkUploadRowError.message,
        )
        .where(BulkUploadRowError.bulk_upload_id == upload_id)
        .order_by(BulkUploadRowError.row_number)
        .execution_options(yield_per=2000)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    count = 0
    async for row_number, sku, field, message in result:
        # Every text cell: a sku or message may carry the row's own text.
        writer.writerow([row_number, safe_cell(sku), safe_cell(field), safe_cell(message)])
        count += 1
    return out.getvalue().encode("utf-8") if count else None


async def finish(
    session: AsyncSession,
    upload_id: uuid.UUID,
    *,
    status: JobStatus,
    error_message: str | None,
    report: str | None,
) -> tuple[BulkUpload, bool]:
    """The final status (a cancel request wins over the run's own ending); returns the row
    and whether this call finished it (False: an earlier attempt did)."""
    upload = await lock(session, upload_id)
    if upload.completed_at is not None:
        return upload, False
    final = JobStatus.CANCELLED if upload.status == JobStatus.CANCELLED else status
    upload.status = final
    if final == JobStatus.FAILED:
        upload.error_message = error_message
    if final == JobStatus.COMPLETED:
        upload.progress = 1.0
    upload.error_report_key = report
    upload.completed_at = utcnow()
    await session.flush()
    return upload, True


# -- files (blocking: boto3; call through a thread) --------------------------------------------


def read_range(store: ObjectStore, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    if end <= start:
        return b""
    response = store.client.get_object(
        Bucket=store.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
    )
    return response["Body"].read()


def stream(store: ObjectStore, key: str) -> Iterable[bytes]:
    body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(READ_BLOCK_BYTES)
    finally:
        body.close()


def _csv_problem(error: csv_rows.CsvFileError) -> BadRequest:
    return BadRequest(str(error))


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The CSV is larger than {max_bytes // (1024 * 1024)} MB")


def store_local_csv(store: ObjectStore, file: IO[bytes], key: str, *, max_bytes: int) -> None:
    """Check a received file (size, UTF-8 throughout, header) and put it at `key`."""
    file.seek(0)
    prefix = file.read(HEADER_PREFIX_BYTES)
    file.seek(0)
    try:
        size = csv_rows.check_utf8(_blocks(file))
        if size > max_bytes:
            raise _too_large(max_bytes)
        csv_rows.header_from_prefix(prefix, whole_file=size <= len(prefix))
    except csv_rows.CsvFileError as error:
        raise _csv_problem(error) from error
    file.seek(0)
    store.client.upload_fileobj(
        file, store.bucket, key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"}
    )


def _blocks(file: IO[bytes]) -> Iterable[bytes]:
    while block := file.read(READ_BLOCK_BYTES):
        yield block


def adopt_temp_upload(store: ObjectStore, temp_key: str, key: str, *, max_bytes: int) -> None:
    """Check a presigned upload's size and header, and copy it to `key` (the caller deletes
    the temp object once the upload's row is committed, so a failed create leaves it usable).
    The rest of the file is checked (UTF-8, rows) by the workflow, which fails the upload."""
    if not _TEMP_KEY.match(temp_key):
        raise BadRequest("temp_key must be a key returned by POST /uploads/presigned-url")
    head = store.head(temp_key)
    if head is None:
        raise BadRequest("Upload not found (expired or never uploaded)")
    size = int(head.get("ContentLength", 0))
    if size > max_bytes:
        raise _too_large(max_bytes)
    prefix = read_range(store, temp_key, 0, min(size, HEADER_PREFIX_BYTES))
    try:
        csv_rows.header_from_prefix(prefix, whole_file=size <= HEADER_PREFIX_BYTES)
    except csv_rows.CsvFileError as error:
        raise _csv_problem(error) from error
    store.copy(temp_key, key)
