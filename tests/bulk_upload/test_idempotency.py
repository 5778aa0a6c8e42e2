"""The chunk transaction applies a chunk exactly once, and counts created vs updated right,
whatever the retries (services level, on the real database)."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from models.jobs import BulkUpload, BulkUploadRowError, JobStatus
from models.product import Product
from services import bulk_upload_chunks
from services.csv_rows import ProductRow, RowError
from tests.helpers import Api, UserHandle


def _ready(*skus: str) -> list[bulk_upload_chunks.ReadyRow]:
    return [
        bulk_upload_chunks.ReadyRow(
            row=ProductRow(row_number=i + 2, sku=s, name=f"P {s}"), images={}
        )
        for i, s in enumerate(skus)
    ]


async def test_retried_chunks_change_nothing_twice(
    api: Api, user: UserHandle, app: FastAPI
) -> None:
    org, owner = uuid.UUID(user.orgs[0]), uuid.UUID(user.id)
    upload_id = uuid.uuid4()
    existing = f"old-{upload_id.hex[:6]}"
    async with app.state.sessionmaker() as session:
        session.add(Product(organization_id=org, owner_id=owner, sku=existing, name="Old"))
        session.add(
            BulkUpload(
                id=upload_id,
                organization_id=org,
                owner_id=owner,
                source_key="x",
                status=JobStatus.RUNNING,
                total_rows=5,
            )
        )
        await session.commit()
    new_a, new_b = f"a-{upload_id.hex[:6]}", f"b-{upload_id.hex[:6]}"
    error = RowError(4, "bad", "name", "name is required")

    async def apply(
        rows_before: int,
        ready: list[bulk_upload_chunks.ReadyRow],
        errors: list[RowError],
        *,
        commit: bool = True,
    ) -> tuple[bool, bool, tuple[int, int, int, int]]:
        """(applied, stopped, (processed, created, updated, failed)) as the chunk left them."""
        async with app.state.sessionmaker() as session:
            outcome = await bulk_upload_chunks.apply_chunk(
                session,
                upload_id,
                rows_before=rows_before,
                rows=len(ready) + len(errors),
                ready=ready,
                errors=errors,
            )
            u = outcome.upload
            counts = (u.processed_rows, u.created_count, u.updated_count, u.failed_count)
            await (session.commit() if commit else session.rollback())
            return outcome.applied, outcome.stopped, counts

    assert await apply(0, _ready(new_a, existing), [error]) == (True, False, (3, 1, 1, 1))
    # the activity is retried after its transaction committed (say its result was lost)
    assert await apply(0, _ready(new_a, existing), [error]) == (False, False, (3, 1, 1, 1))
    # the next chunk's first attempt rolls back; its retry counts as if it were the first
    assert await apply(3, _ready(new_b, new_a), [], commit=False) == (True, False, (5, 2, 2, 1))
    assert await apply(3, _ready(new_b, new_a), []) == (True, False, (5, 2, 2, 1))

    with pytest.raises(bulk_upload_chunks.ChunkOutOfOrder):
        await apply(9, _ready("z"), [])
    async with app.state.sessionmaker() as session:
        skus = set(await session.scalars(select(Product.sku).where(Product.organization_id == org)))
        assert {new_a, new_b, existing} <= skus
        errors = await session.scalar(
            select(func.count())
            .select_from(BulkUploadRowError)
            .where(BulkUploadRowError.bulk_upload_id == upload_id)
        )
        assert errors == 1
        upload = await session.get(BulkUpload, upload_id)
        assert upload is not None
        upload.status = JobStatus.CANCELLED
        await session.commit()
    assert await apply(5, _ready("late"), []) == (False, True, (5, 2, 2, 1))
