"""One chunk of a bulk upload, applied exactly once (see services/bulk_uploads.py):
products upserted by (scope, SKU), their images attached, row errors recorded and the
counts advanced, all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.jobs import BulkUpload, BulkUploadRowError, JobStatus
from models.media import EntityType, MediaResourceAttachment
from services import csv_rows, product_upserts
from services import media as media_service
from services.bulk_uploads import lock


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


def duplicate_error(row: csv_rows.ProductRow, first_row: int) -> csv_rows.RowError:
    return csv_rows.RowError(
        row.row_number,
        row.sku,
        "sku",
        f"duplicate sku {row.sku!r}: already used on row {first_row}",
    )
