"""Shot types: private ones belong to a scope; public (system) ones are managed by superusers."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.media import EntityType
from models.shot import Shot
from models.shot_type import (
    Framing,
    ShotType,
    ShotTypeCreate,
    ShotTypeUpdate,
    ViewAngle,
    Visibility,
)
from services import attachments, uploads
from services.errors import Conflict, Forbidden
from services.repository import apply_update, get_row, list_rows, matches
from services.repository import visibility as with_public
from services.tenancy import Scope


def readable(scope: Scope) -> ColumnElement[bool]:
    """The scope's shot types plus every public one."""
    return with_public(ShotType, scope, ShotType.visibility == Visibility.PUBLIC)


def _place(row: ShotType, scope: Scope) -> ShotType:
    """Public shot types belong to nobody's scope (owner = the superuser who made them)."""
    if row.visibility == Visibility.PUBLIC:
        if not scope.is_superuser:
            raise Forbidden("Not enough permissions")
        row.organization_id, row.owner_id = None, scope.user_id
        return row
    return scope.stamp(row)


async def create(
    session: AsyncSession, scope: Scope, data: ShotTypeCreate, *, store: ObjectStore
) -> ShotType:
    shot_type = _place(ShotType(**data.model_dump(exclude={"images"})), scope)
    session.add(shot_type)
    await session.flush()
    await uploads.attach_uploads(
        session,
        store,
        data.images,
        entity_type=EntityType.SHOT_TYPE,
        entity_id=shot_type.id,
        organization_id=shot_type.organization_id,
        owner_id=shot_type.owner_id,
    )
    return shot_type


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    visibility: Visibility | None = None,
    framing: Framing | None = None,
    view_angle: ViewAngle | None = None,
    search: str | None = None,
) -> tuple[list[ShotType], int]:
    where = [readable(scope)]
    if visibility is not None:
        where.append(ShotType.visibility == visibility)
    if framing is not None:
        where.append(ShotType.framing == framing)
    if view_angle is not None:
        where.append(ShotType.view_angle == view_angle)
    if search:
        where.append(matches(search, ShotType.name, ShotType.description))
    return await list_rows(session, ShotType, where=where, skip=skip, limit=limit)


async def get(session: AsyncSession, scope: Scope, shot_type_id: uuid.UUID) -> ShotType:
    """A shot type of the scope or a public one."""
    return await get_row(session, ShotType, shot_type_id, where=readable(scope), what="Shot type")


async def _get_writable(session: AsyncSession, scope: Scope, shot_type_id: uuid.UUID) -> ShotType:
    shot_type = await get(session, scope, shot_type_id)
    if shot_type.visibility == Visibility.PUBLIC and not scope.is_superuser:
        raise Forbidden("Not enough permissions")
    return shot_type


async def update(
    session: AsyncSession, scope: Scope, shot_type_id: uuid.UUID, data: ShotTypeUpdate
) -> ShotType:
    shot_type = await _get_writable(session, scope, shot_type_id)
    was = shot_type.visibility
    apply_update(shot_type, data)
    if shot_type.visibility != was:
        _place(shot_type, scope)
    await session.flush()
    return shot_type


async def delete(session: AsyncSession, scope: Scope, shot_type_id: uuid.UUID) -> None:
    """Delete a shot type no shot uses (409 otherwise: shots keep their shot type)."""
    shot_type = await _get_writable(session, scope, shot_type_id)
    used = await session.scalar(
        select(func.count()).select_from(Shot).where(Shot.shot_type_id == shot_type.id)
    )
    if used:
        raise Conflict(f"Shot type is used by {used} shot(s); remove them before deleting it")
    await attachments.delete(session, shot_type)
