"""Two-phase uploads (DOMAIN §4.2): presigned PUTs into `temp/`, then ingestion of the
uploaded objects as media attached to the entity that names them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from core.file_urls import signed_url
from core.storage import ObjectStore, temp_key
from models.base import public_view
from models.media import (
    AttachedImage,
    EntityType,
    ImageUpload,
    MediaResource,
    MediaResourceAttachment,
)
from services import ingest
from services import media as media_service
from services.errors import BadRequest

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
CSV_TYPES = ("text/csv", "application/csv", "application/vnd.ms-excel", "text/plain")
MB = 1024 * 1024

Purpose = Literal["product_image", "subject_image", "style_image", "shot_type_image", "bulk_csv"]


@dataclass(frozen=True)
class PurposeRule:
    content_types: tuple[str, ...]
    max_bytes: int


PURPOSES: dict[str, PurposeRule] = {
    "product_image": PurposeRule(IMAGE_TYPES, 25 * MB),
    "subject_image": PurposeRule(IMAGE_TYPES, 25 * MB),
    "style_image": PurposeRule(IMAGE_TYPES, 25 * MB),
    "shot_type_image": PurposeRule(IMAGE_TYPES, 10 * MB),
    "bulk_csv": PurposeRule(CSV_TYPES, 200 * MB),
}
URL_TTL_SECONDS = 900
MAX_IMAGE_BYTES = max(r.max_bytes for r in PURPOSES.values() if r.content_types == IMAGE_TYPES)


@dataclass(frozen=True)
class PresignedUpload:
    upload_url: str
    key: str
    file_url: str
    expires_in_seconds: int
    headers: dict[str, str]


def presign(
    store: ObjectStore, *, filename: str, content_type: str, size: int, purpose: str
) -> PresignedUpload:
    """A PUT URL bound to this content type and exact size: the store itself refuses
    other bytes (403), so the limits hold even against a client that ignores them."""
    rule = PURPOSES[purpose]
    if content_type not in rule.content_types:
        accepted = ", ".join(rule.content_types)
        raise BadRequest(f"{content_type} is not accepted for {purpose}; use one of {accepted}")
    if size > rule.max_bytes:
        raise BadRequest(f"{purpose} uploads are limited to {rule.max_bytes // MB} MB")
    key = temp_key(filename)
    url = store.public_client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": store.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size,
        },
        ExpiresIn=URL_TTL_SECONDS,
    )
    return PresignedUpload(
        upload_url=url,
        key=key,
        file_url=store.presigned_get(key, expires_in=URL_TTL_SECONDS),
        expires_in_seconds=URL_TTL_SECONDS,
        headers={"Content-Type": content_type, "Content-Length": str(size)},
    )


def _ingest_temp(
    store: ObjectStore,
    key: str,
    *,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
) -> media_service.StoredFile:
    """Verify the uploaded object and store it as media (blocking). The temp object stays
    until the consuming transaction commits (`discard_consumed`)."""
    head = store.head(key)
    if head is None:
        raise BadRequest(f"Upload {key} not found (expired or never uploaded)")
    if head.get("ContentLength", 0) > MAX_IMAGE_BYTES:
        raise BadRequest(f"Upload {key} is larger than {MAX_IMAGE_BYTES // MB} MB")
    if head.get("ContentType") not in IMAGE_TYPES:
        raise BadRequest(f"Upload {key} is not an image ({head.get('ContentType')})")
    return ingest.store_image(
        store, store.get(key), organization_id=organization_id, owner_id=owner_id
    )


# Temp keys consumed by the session's transaction; moved to _DISCARDABLE when it commits,
# dropped when it rolls back (the uploads stay usable for another try).
_CONSUMED = "uploads.consumed"
_DISCARDABLE = "uploads.discardable"


def _on_commit(sync_session: Session) -> None:
    sync_session.info.setdefault(_DISCARDABLE, []).extend(sync_session.info.pop(_CONSUMED, []))


def _on_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_CONSUMED, None)


def _consume(session: AsyncSession, key: str) -> None:
    sync_session = session.sync_session
    if not event.contains(sync_session, "after_commit", _on_commit):
        event.listen(sync_session, "after_commit", _on_commit)
        event.listen(sync_session, "after_rollback", _on_rollback)
    sync_session.info.setdefault(_CONSUMED, []).append(key)


async def discard_consumed(session: AsyncSession, store: ObjectStore) -> None:
    """Delete the temp objects of uploads whose consuming transaction has committed (call
    after the commit). A failure only leaves them to the orphan scan's temp TTL."""
    keys = session.sync_session.info.pop(_DISCARDABLE, [])
    for key in dict.fromkeys(keys):
        try:
            await asyncio.to_thread(store.delete, key)
        except (BotoCoreError, ClientError) as error:
            log.warning("could not delete consumed upload %s: %s", key, error)


async def attach_uploads(
    session: AsyncSession,
    store: ObjectStore,
    uploads: Sequence[ImageUpload],
    *,
    entity_type: EntityType,
    entity_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    """Ingest each upload (dedup per organization) and attach it; returns the media ids.
    Their temp objects go once the caller has committed (`discard_consumed`)."""
    slots = [(u.slot, u.position) for u in uploads]
    if len(slots) != len(set(slots)):
        raise BadRequest("Two images name the same slot and position")
    media_ids = []
    for upload in uploads:
        stored = await asyncio.to_thread(
            _ingest_temp, store, upload.key, organization_id=organization_id, owner_id=owner_id
        )
        _consume(session, upload.key)
        row = await media_service.upsert(
            session, stored, organization_id=organization_id, owner_id=owner_id
        )
        await media_service.attach(
            session,
            media_id=row.id,
            entity_type=entity_type,
            entity_id=entity_id,
            slot=upload.slot,
            position=upload.position,
        )
        media_ids.append(row.id)
    return media_ids


async def images_of(
    session: AsyncSession, entity_type: EntityType, entity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AttachedImage]]:
    """Attached images per entity, in one query for a page of entities."""
    if not entity_ids:
        return {}
    rows = await session.execute(
        select(MediaResourceAttachment, MediaResource)
        .join(MediaResource, MediaResource.id == MediaResourceAttachment.media_resource_id)
        .where(
            MediaResourceAttachment.entity_type == entity_type,
            MediaResourceAttachment.entity_id.in_(entity_ids),
        )
        .order_by(
            MediaResourceAttachment.slot,
            MediaResourceAttachment.position,
        )
    )
    result: dict[uuid.UUID, list[AttachedImage]] = {}
    for attachment, media in rows.all():
        result.setdefault(attachment.entity_id, []).append(
            AttachedImage(
                slot=attachment.slot,
                position=attachment.position,
                media_resource_id=media.id,
                file_url=signed_url(media.id),
                width=media.width,
                height=media.height,
            )
        )
    return result


PublicT = TypeVar("PublicT", bound=SQLModel)


async def with_images(
    session: AsyncSession, entity_type: EntityType, rows: Sequence[Any], public: type[PublicT]
) -> list[PublicT]:
    """Rows as their public schema with an `images` list (one query for the page)."""
    images = await images_of(session, entity_type, [row.id for row in rows])
    return [public_view(public, row, images=images.get(row.id, [])) for row in rows]
