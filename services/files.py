"""Which media a user may fetch, and where its bytes are served from."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from models.media import MediaResource
from models.organization import Membership
from models.user import User
from services import attachments
from services.errors import NotFound
from services.tenancy import Scope


def _owned_by(user: User) -> ColumnElement[bool]:
    member_of = select(Membership.organization_id).where(Membership.user_id == user.id)
    return or_(
        MediaResource.organization_id.in_(member_of),
        (MediaResource.organization_id.is_(None)) & (MediaResource.owner_id == user.id),
    )


async def visible_media(session: AsyncSession, user: User, media_id: uuid.UUID) -> MediaResource:
    """Media of the user's organizations or its personal media (the media it may manage);
    404 otherwise."""
    query = select(MediaResource).where(MediaResource.id == media_id)
    if not user.is_superuser:
        query = query.where(_owned_by(user))
    row = await session.scalar(query)
    if row is None:
        raise NotFound("File not found")
    return row


async def readable_media(session: AsyncSession, user: User, media_id: uuid.UUID) -> MediaResource:
    """Media whose bytes the user may fetch: `visible_media`, plus the images of what every
    user may list (public subjects and shot types, system presets); 404 otherwise."""
    query = select(MediaResource).where(MediaResource.id == media_id)
    if not user.is_superuser:
        query = query.where(or_(_owned_by(user), attachments.publicly_attached()))
    row = await session.scalar(query)
    if row is None:
        raise NotFound("File not found")
    return row


async def media_by_id(session: AsyncSession, media_id: uuid.UUID) -> MediaResource:
    """A media resource by id (for a signed URL, which is the proof of access); 404."""
    row = await session.get(MediaResource, media_id)
    if row is None:
        raise NotFound("File not found")
    return row


def cdn_url(
    settings: Settings,
    key: str,
    *,
    fmt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    quality: int | None = None,
) -> str:
    """The CDN URL of a key; with Cloudflare Image Transformations the options become
    a `/cdn-cgi/image/<options>/` prefix."""
    assert settings.R2_PUBLIC_URL
    base = settings.R2_PUBLIC_URL.rstrip("/")
    options = {
        k: v
        for k, v in (("format", fmt), ("width", width), ("height", height), ("quality", quality))
        if v is not None
    }
    if options and settings.CLOUDFLARE_IMAGE_TRANSFORMATIONS_ENABLED:
        joined = ",".join(f"{k}={v}" for k, v in options.items())
        return f"{base}/cdn-cgi/image/{joined}/{key}"
    return f"{base}/{key}"


async def user_of_scope(session: AsyncSession, scope: Scope) -> User:
    user = await session.get(User, scope.user_id)
    if user is None:
        raise NotFound("User not found")
    return user
