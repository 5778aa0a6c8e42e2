"""Media resources as the API changes them: read, fill empty metadata, protect, delete."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.file_urls import signed_url
from models.media import MediaResource, MediaResourceAttachment, MediaResourcePublic
from models.user import User
from services import files
from services.errors import Conflict, Forbidden
from services.tenancy import MANAGER_ROLES, membership_role

# Fields a PATCH may fill (DOMAIN §4.7: background enrichers write only what is empty).
FILLABLE = (
    "color_profile",
    "duration",
    "dominant_color",
    "width",
    "height",
    "alt_text",
    "caption",
)


def public(media: MediaResource) -> MediaResourcePublic:
    return MediaResourcePublic.model_validate(media, update={"file_url": signed_url(media.id)})


async def get_visible(
    session: AsyncSession, user: User, media_id: uuid.UUID, *, for_update: bool = False
) -> MediaResource:
    """Media of the user's organizations or its personal media (404 otherwise)."""
    media = await files.visible_media(session, user, media_id)
    if for_update:
        # Re-read under a row lock: attaching takes a key-share lock on this row, so a
        # concurrent attach waits for our decision (and then fails its foreign key).
        await session.refresh(media, with_for_update=True)
    return media


async def fill_missing(
    session: AsyncSession, media: MediaResource, values: dict[str, object]
) -> list[str]:
    """Write each given value only where the column is still NULL, in one statement
    (COALESCE), so two enrichers racing never overwrite each other. Returns the fields
    that were empty before (the ones that got filled)."""
    wanted = {k: v for k, v in values.items() if k in FILLABLE and v is not None}
    if not wanted:
        return []
    table = MediaResource.__table__  # type: ignore[attr-defined]
    empty_before = [k for k in wanted if getattr(media, k) is None]
    await session.execute(
        sa.update(table)
        .where(table.c.id == media.id)
        .values(
            {
                **{k: func.coalesce(table.c[k], v) for k, v in wanted.items()},
                "updated_at": func.now(),
            }
        )
    )
    await session.refresh(media)
    return empty_before


async def attachments_of(session: AsyncSession, media_id: uuid.UUID) -> list[str]:
    """What the media is attached to, as `ENTITY_TYPE entity_id (slot)` phrases."""
    rows = await session.execute(
        select(
            MediaResourceAttachment.entity_type,
            MediaResourceAttachment.entity_id,
            MediaResourceAttachment.slot,
        )
        .where(MediaResourceAttachment.media_resource_id == media_id)
        .order_by(MediaResourceAttachment.entity_type, MediaResourceAttachment.entity_id)
    )
    return [f"{kind.value} {entity_id} ({slot})" for kind, entity_id, slot in rows.all()]


async def delete(session: AsyncSession, media: MediaResource) -> str:
    """Delete the row (not its bytes: those go after the commit). 409 when protected or
    still attached, naming the reason. Returns the storage key to delete."""
    if media.protected:
        raise Conflict("Media resource is protected; unprotect it before deleting it")
    attached = await attachments_of(session, media.id)
    if attached:
        shown = ", ".join(attached[:5]) + (" …" if len(attached) > 5 else "")
        raise Conflict(f"Media resource is still attached to {len(attached)} entities: {shown}")
    key = media.storage_key
    await session.delete(media)
    await session.flush()
    return key


async def require_manager(session: AsyncSession, user: User, media: MediaResource) -> None:
    """Protecting is an owner/admin decision in an organization (or a superuser's); a
    personal resource is managed by its owner."""
    if user.is_superuser:
        return
    if media.organization_id is None:
        if media.owner_id == user.id:
            return
        raise Forbidden("Not enough permissions")
    role = await membership_role(session, user_id=user.id, organization_id=media.organization_id)
    if role not in MANAGER_ROLES:
        raise Forbidden("Not enough permissions")


async def set_protected(
    session: AsyncSession, user: User, media: MediaResource, protected: bool
) -> MediaResource:
    await require_manager(session, user, media)
    media.protected = protected
    await session.flush()
    return media
