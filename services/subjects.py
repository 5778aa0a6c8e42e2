"""Subjects of an organization (or personal); public subjects are readable by everybody."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.media import EntityType
from models.subject import AgeClass, BaseImage, BodyType, Subject, SubjectCreate, SubjectUpdate
from services import attachments, uploads
from services.errors import Forbidden
from services.repository import apply_update, get_row, list_rows, matches, visibility
from services.tenancy import Scope


def readable(scope: Scope) -> ColumnElement[bool]:
    """The scope's subjects plus every public one."""
    return visibility(Subject, scope, Subject.is_public.is_(True))


def _images(images: list[BaseImage]) -> list[dict]:
    return [image.model_dump(mode="json") for image in images]


def _check_publish(scope: Scope) -> None:
    """A public subject is readable by every tenant: only superusers publish one (403,
    as for public shot types and system presets)."""
    if not scope.is_superuser:
        raise Forbidden("Not enough permissions: only superusers make a subject public")


async def create(
    session: AsyncSession, scope: Scope, data: SubjectCreate, *, store: ObjectStore
) -> Subject:
    if data.is_public:
        _check_publish(scope)
    fields = data.model_dump(exclude={"base_images", "images"})
    subject = scope.stamp(Subject(**fields, base_images=_images(data.base_images)))
    session.add(subject)
    await session.flush()
    await uploads.attach_uploads(
        session,
        store,
        data.images,
        entity_type=EntityType.SUBJECT,
        entity_id=subject.id,
        organization_id=subject.organization_id,
        owner_id=subject.owner_id,
    )
    return subject


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    age_class: AgeClass | None = None,
    body_type: BodyType | None = None,
    include_public: bool = False,
    only_with_base_images: bool = False,
    search: str | None = None,
) -> tuple[list[Subject], int]:
    where = [readable(scope) if include_public else scope.filter(Subject)]
    if age_class is not None:
        where.append(Subject.age_class == age_class)
    if body_type is not None:
        where.append(Subject.body_type == body_type)
    if only_with_base_images:
        where.append(func.jsonb_array_length(Subject.base_images) > 0)
    if search:
        where.append(matches(search, Subject.name, Subject.surname, Subject.slug))
    return await list_rows(session, Subject, where=where, skip=skip, limit=limit)


async def get(session: AsyncSession, scope: Scope, subject_id: uuid.UUID) -> Subject:
    """A subject of the scope or a public one."""
    return await get_row(session, Subject, subject_id, where=readable(scope), what="Subject")


async def _get_own(session: AsyncSession, scope: Scope, subject_id: uuid.UUID) -> Subject:
    return await get_row(session, Subject, subject_id, where=scope.filter(Subject), what="Subject")


async def update(
    session: AsyncSession, scope: Scope, subject_id: uuid.UUID, data: SubjectUpdate
) -> Subject:
    subject = await _get_own(session, scope, subject_id)
    # Checked before anything changes; leaving it public (or unpublishing) is not publishing.
    if data.is_public and not subject.is_public:
        _check_publish(scope)
    subject = apply_update(subject, data, exclude={"base_images"})
    if "base_images" in data.model_fields_set:
        subject.base_images = _images(data.base_images or [])
    await session.flush()
    return subject


async def delete(session: AsyncSession, scope: Scope, subject_id: uuid.UUID) -> None:
    await attachments.delete(session, await _get_own(session, scope, subject_id))
