"""Planting media rows, attachments and objects for the maintenance tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from fastapi import FastAPI
from sqlalchemy import delete, select
from temporalio.client import Client

from core.storage import ObjectStore, media_key
from core.temporal import MAINTENANCE_QUEUE
from models.media import EntityType, MediaResource, MediaResourceAttachment
from tests.helpers import eventually as eventually  # re-exported for the tests
from tests.workflows.conftest import record_history


async def add_media(
    app: FastAPI,
    *,
    organization_id: str | None = None,
    owner_id: str | None = None,
    age: timedelta = timedelta(0),
    protected: bool = False,
    file_size: int = 0,
    **fields: Any,
) -> MediaResource:
    media_id = uuid.uuid4()
    created = datetime.now(UTC) - age
    row = MediaResource(
        id=media_id,
        organization_id=uuid.UUID(organization_id) if organization_id else None,
        owner_id=uuid.UUID(owner_id) if owner_id else None,
        storage_key=media_key(media_id, "jpg"),
        content_hash=uuid.uuid4().hex,
        extension="jpg",
        content_type="image/jpeg",
        file_size=file_size,
        protected=protected,
        created_at=created,
        updated_at=created,
        **fields,
    )
    async with app.state.sessionmaker() as session:
        session.add(row)
        await session.commit()
    return row


async def attach(app: FastAPI, media_id: uuid.UUID, *, slot: str = "cover_image") -> None:
    async with app.state.sessionmaker() as session:
        session.add(
            MediaResourceAttachment(
                media_resource_id=media_id,
                entity_type=EntityType.PRODUCT,
                entity_id=uuid.uuid4(),
                slot=slot,
                created_at=datetime.now(UTC),
            )
        )
        await session.commit()


async def row_exists(app: FastAPI, media_id: uuid.UUID) -> bool:
    async with app.state.sessionmaker() as session:
        found = await session.scalar(select(MediaResource.id).where(MediaResource.id == media_id))
        return found is not None


async def remove_media(app: FastAPI, *media_ids: uuid.UUID) -> None:
    """Clean up planted rows (attachments first: their foreign key restricts)."""
    async with app.state.sessionmaker() as session:
        await session.execute(
            delete(MediaResourceAttachment).where(
                MediaResourceAttachment.media_resource_id.in_(media_ids)
            )
        )
        await session.execute(delete(MediaResource).where(MediaResource.id.in_(media_ids)))
        await session.commit()


# Bucket calls block: run them in a thread, or the in-process workers (same event loop)
# would stall while the test waits on S3.


async def put(store: ObjectStore, bucket: str, key: str, data: bytes = b"x") -> None:
    await asyncio.to_thread(store.client.put_object, Bucket=bucket, Key=key, Body=data)


def _exists(store: ObjectStore, bucket: str, key: str) -> bool:
    try:
        store.client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


async def exists(store: ObjectStore, bucket: str, key: str) -> bool:
    return await asyncio.to_thread(_exists, store, bucket, key)


async def make_bucket(store: ObjectStore, bucket: str) -> None:
    await asyncio.to_thread(store.client.create_bucket, Bucket=bucket)


async def run_workflow(
    client: Client, run: Any, arg: Any, *, queues: str, name: str, record: str | None = None
) -> Any:
    """Run a maintenance workflow on this module's workers; with `record`, keep its history
    for the replay tests (SARTIQ_RECORD_HISTORIES=1)."""
    handle = await client.start_workflow(
        run, arg, id=f"{name}-test-{uuid.uuid4()}", task_queue=queues + MAINTENANCE_QUEUE
    )
    result = await handle.result()
    if record:
        await record_history(handle, record)
    return result
