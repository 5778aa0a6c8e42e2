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
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.base import utcnow
from models.jobs import BulkUpload, BulkUploadRowError, JobStatus
from models.media import EntityType, MediaResourceAttachment, ResourceType
from services import csv_rows, product_upserts
from services import media as media_service
from services.csv_safety import safe_cell
from services.errors import BadRequest, Conflict, DomainError, NotFound
from services.repository import get_row, list_rows
from services.tenancy import Scope

# Settings (module constants until core/config.py grows them; see the report).
MAX_CSV_BYTES = 200 * 1024 * 1024  # the same cap as presigned `bulk_csv` uploads
MAX_ROWS = 1_000_000  # keeps the plan (and each run's history) small
HEADER_PREFIX_BYTES = 64 * 1024  # the header must fit in the file's first 64 KiB
READ_BLOCK_BYTES = 1024 * 1024

FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
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
    if upload.status in FINAL:
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


# -- one chunk --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyRow:
    """A valid row with its images already in the bucket (slot → stored file)."""

    row: csv_rows.ProductRow
    images: dict[str, media_service.StoredFile]


@dataclass(frozen=True)
class ChunkOutcome:
    upload: BulkUpload
    applied: bool  # False: applied by an earlier attempt, or the upload stopped
    stopped: bool  # the upload is no longer running (cancelled or finished)


class ChunkOutOfOrder(Exception):
    """The counter is before the chunk: an earlier chunk was never applied (a bug)."""


async def apply_chunk(
    session: AsyncSession,
    upload_id: uuid.UUID,
    *,
    rows_before: int,
    rows: int,
    ready: Sequence[ReadyRow],
    errors: Sequence[csv_rows.RowError],
) -> ChunkOutcome:
    """Upsert a chunk's products, attach their images, record its row errors, and advance
    the counts, all in the caller's transaction (exactly once, see the module docstring)."""
    if len(ready) + len(errors) != rows:
        raise ValueError(f"chunk has {len(ready) + len(errors)} outcomes for {rows} rows")
    upload = await lock(session, upload_id)
    if upload.status != JobStatus.RUNNING:
        return ChunkOutcome(upload, applied=False, stopped=True)
    if upload.processed_rows >= rows_before + rows:
        return ChunkOutcome(upload, applied=False, stopped=False)
    if upload.processed_rows != rows_before:
        raise ChunkOutOfOrder(
            f"upload is at row {upload.processed_rows}, chunk starts at {rows_before}"
        )
    outcomes = await product_upserts.upsert_products(
        session,
        [r.row for r in ready],
        organization_id=upload.organization_id,
        owner_id=upload.owner_id,
        now=utcnow(),
    )
    await _attach_images(session, upload, ready, outcomes)
    await _record_errors(session, upload.id, errors)
    created = sum(1 for _, inserted in outcomes.values() if inserted)
    upload.processed_rows += rows
    upload.created_count += created
    upload.updated_count += len(outcomes) - created
    upload.failed_count += len(errors)
    upload.progress = (
        round(upload.processed_rows / upload.total_rows, 4) if upload.total_rows else 1.0
    )
    await session.flush()
    return ChunkOutcome(upload, applied=True, stopped=False)


async def _attach_images(
    session: AsyncSession,
    upload: BulkUpload,
    ready: Sequence[ReadyRow],
    outcomes: dict[str, tuple[uuid.UUID, bool]],
) -> None:
    media_ids: dict[uuid.UUID, uuid.UUID] = {}  # stored id → row id, one upsert per file
    for item in ready:
        product_id, created = outcomes[item.row.sku]
        for slot, stored in item.images.items():
            if stored.media_id not in media_ids:
                row = await media_service.upsert(
                    session,
                    stored,
                    organization_id=upload.organization_id,
                    owner_id=upload.owner_id,
                )
                media_ids[stored.media_id] = row.id
            media_id = media_ids[stored.media_id]
            if not created:  # the row's image replaces the slot's previous one
                await session.execute(
                    delete(MediaResourceAttachment).where(
                        MediaResourceAttachment.entity_type == EntityType.PRODUCT,
                        MediaResourceAttachment.entity_id == product_id,
                        MediaResourceAttachment.slot == slot,
                        MediaResourceAttachment.position.is_(None),
                        MediaResourceAttachment.media_resource_id != media_id,
                    )
                )
            await media_service.attach(
                session,
                media_id=media_id,
                entity_type=EntityType.PRODUCT,
                entity_id=product_id,
                slot=slot,
            )


async def _record_errors(
    session: AsyncSession, upload_id: uuid.UUID, errors: Sequence[csv_rows.RowError]
) -> None:
    if not errors:
        return
    now = utcnow()
    table = BulkUploadRowError.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(table).on_conflict_do_nothing(index_elements=["bulk_upload_id", "row_number"]),
        [
            {
                "id": uuid.uuid4(),
                "bulk_upload_id": upload_id,
                "row_number": e.row_number,
                "sku": e.sku[:128] if e.sku else None,
                "field": e.field,
                "message": e.message,
                "created_at": now,
            }
            for e in errors
        ],
    )


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


def store_local_csv(store: ObjectStore, file: IO[bytes], key: str) -> None:
    """Check a received file (size, UTF-8 throughout, header) and put it at `key`."""
    file.seek(0)
    prefix = file.read(HEADER_PREFIX_BYTES)
    file.seek(0)
    try:
        size = csv_rows.check_utf8(_blocks(file))
        if size > MAX_CSV_BYTES:
            raise PayloadTooLarge(f"The CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
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


def adopt_temp_upload(store: ObjectStore, temp_key: str, key: str) -> None:
    """Check a presigned upload's size and header, and move it to `key`. The rest of the
    file is checked (UTF-8, rows) by the workflow, which fails the upload with the reason."""
    if not _TEMP_KEY.match(temp_key):
        raise BadRequest("temp_key must be a key returned by POST /uploads/presigned-url")
    head = store.head(temp_key)
    if head is None:
        raise BadRequest("Upload not found (expired or never uploaded)")
    size = int(head.get("ContentLength", 0))
    if size > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"The CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    prefix = read_range(store, temp_key, 0, min(size, HEADER_PREFIX_BYTES))
    try:
        csv_rows.header_from_prefix(prefix, whole_file=size <= HEADER_PREFIX_BYTES)
    except csv_rows.CsvFileError as error:
        raise _csv_problem(error) from error
    store.copy(temp_key, key)
    store.delete(temp_key)


# -- the plan and image manifests, as JSON in the bucket ------------------------------------------


def plan_json(
    plan: csv_rows.FilePlan, *, source: str, organization_id: Any, owner_id: Any
) -> bytes:
    return json.dumps(
        {
            "source_key": source,
            "organization_id": str(organization_id) if organization_id else None,
            "owner_id": str(owner_id) if owner_id else None,
            "header": plan.header,
            "total_rows": plan.total_rows,
            "chunks": [asdict(c) for c in plan.chunks],
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class StoredPlan:
    source_key: str
    organization_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    header: list[str]
    total_rows: int
    chunks: list[csv_rows.ChunkPlan]


def load_plan(data: bytes) -> StoredPlan:
    raw = json.loads(data)
    chunks = []
    for c in raw["chunks"]:
        c["duplicates"] = {int(k): v for k, v in c["duplicates"].items()}
        chunks.append(csv_rows.ChunkPlan(**c))
    return StoredPlan(
        source_key=raw["source_key"],
        organization_id=uuid.UUID(raw["organization_id"]) if raw["organization_id"] else None,
        owner_id=uuid.UUID(raw["owner_id"]) if raw["owner_id"] else None,
        header=raw["header"],
        total_rows=raw["total_rows"],
        chunks=chunks,
    )


def manifest_json(results: dict[str, media_service.StoredFile | str]) -> bytes:
    """url → the stored file, or the reason it could not be fetched."""
    out: dict[str, Any] = {}
    for url, result in results.items():
        if isinstance(result, str):
            out[url] = {"error": result}
        else:
            stored = asdict(result)
            stored["media_id"] = str(result.media_id)
            stored["resource_type"] = result.resource_type.value
            out[url] = {"stored": stored}
    return json.dumps(out, separators=(",", ":")).encode()


def load_manifest(data: bytes) -> dict[str, media_service.StoredFile | str]:
    results: dict[str, media_service.StoredFile | str] = {}
    for url, entry in json.loads(data).items():
        if "error" in entry:
            results[url] = entry["error"]
            continue
        stored = dict(entry["stored"])
        stored["media_id"] = uuid.UUID(stored["media_id"])
        stored["resource_type"] = ResourceType(stored["resource_type"])
        results[url] = media_service.StoredFile(**stored)
    return results


def duplicate_error(row: csv_rows.ProductRow, first_row: int) -> csv_rows.RowError:
    return csv_rows.RowError(
        row.row_number,
        row.sku,
        "sku",
        f"duplicate sku {row.sku!r}: already used on row {first_row}",
    )
