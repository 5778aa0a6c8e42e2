"""Media resources: content-addressed rows (MD5 per organization) and their attachments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import media_key
from models.media import EntityType, MediaResource, MediaResourceAttachment, ResourceType

# Media ids derive from (scope, content hash): every ingestion path and every retry of one
# computes the same id, hence the same key, so a retry never leaves a second object behind.
MEDIA_NAMESPACE = uuid.UUID("0b7e4c52-9d0b-4d55-9d8e-6a2f0c1e5a11")


def media_id_for(
    *, organization_id: uuid.UUID | None, owner_id: uuid.UUID | None, content_hash: str
) -> uuid.UUID:
    scope = f"org:{organization_id}" if organization_id else f"user:{owner_id}"
    return uuid.uuid5(MEDIA_NAMESPACE, f"{scope}:{content_hash}")


@dataclass(frozen=True)
class StoredFile:
    """Bytes already written at their canonical key, with the facts read from them."""

    media_id: uuid.UUID
    content_hash: str
    extension: str
    content_type: str
    file_size: int
    width: int | None
    height: int | None
    dominant_color: str | None
    color_profile: str | None = None
    resource_type: ResourceType = ResourceType.IMAGE


async def find_by_hash(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    content_hash: str,
) -> MediaResource | None:
    query = select(MediaResource).where(MediaResource.content_hash == content_hash)
    if organization_id is not None:
        query = query.where(MediaResource.organization_id == organization_id)
    else:
        query = query.where(
            MediaResource.organization_id.is_(None), MediaResource.owner_id == owner_id
        )
    return await session.scalar(query)


async def upsert(
    session: AsyncSession,
    stored: StoredFile,
    *,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
) -> MediaResource:
    """The row for these bytes in this scope: the existing one (dedup) or a new one.
    Concurrent and repeated calls converge on one row (insert … on conflict do nothing)."""
    now = datetime.now(UTC)
    values = {
        "id": stored.media_id,
        "organization_id": organization_id,
        "owner_id": owner_id,
        "resource_type": stored.resource_type,
        "storage_key": media_key(stored.media_id, stored.extension),
        "content_hash": stored.content_hash,
        "extension": stored.extension,
        "content_type": stored.content_type,
        "file_size": stored.file_size,
        "width": stored.width,
        "height": stored.height,
        "dominant_color": stored.dominant_color,
        "color_profile": stored.color_profile,
        "protected": False,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(insert(MediaResource).values(**values).on_conflict_do_nothing())
    row = await find_by_hash(
        session,
        organization_id=organization_id,
        owner_id=owner_id,
        content_hash=stored.content_hash,
    )
    assert row is not None, "media row vanished after upsert"
    return row


async def attach(
    session: AsyncSession,
    *,
    media_id: uuid.UUID,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    slot: str,
    position: int | None = None,
) -> None:
    """Link media to an entity's slot; attaching twice is a no-op."""
    await session.execute(
        insert(MediaResourceAttachment)
        .values(
            id=uuid.uuid4(),
            media_resource_id=media_id,
            entity_type=entity_type,
            entity_id=entity_id,
            slot=slot,
            position=position,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
    )


async def attached(
    session: AsyncSession, *, entity_type: EntityType, entity_ids: Sequence[uuid.UUID], slot: str
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Media ids per entity in one slot, ordered by position."""
    rows = await session.execute(
        select(MediaResourceAttachment.entity_id, MediaResourceAttachment.media_resource_id)
        .where(
            MediaResourceAttachment.entity_type == entity_type,
            MediaResourceAttachment.entity_id.in_(entity_ids),
            MediaResourceAttachment.slot == slot,
        )
        .order_by(MediaResourceAttachment.entity_id, MediaResourceAttachment.position)
    )
    result: dict[uuid.UUID, list[uuid.UUID]] = {}
    for entity_id, media_id in rows.all():
        result.setdefault(entity_id, []).append(media_id)
    return result
