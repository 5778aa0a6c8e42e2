"""Styles of an organization (or personal)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.media import EntityType
from models.style import Style, StyleCreate, StyleUpdate
from services import attachments, uploads
from services.repository import apply_update, get_row, list_rows, matches
from services.tenancy import Scope


async def create(
    session: AsyncSession, scope: Scope, data: StyleCreate, *, store: ObjectStore
) -> Style:
    style = scope.stamp(Style(**data.model_dump(exclude={"images"})))
    session.add(style)
    await session.flush()
    await uploads.attach_uploads(
        session,
        store,
        data.images,
        entity_type=EntityType.STYLE,
        entity_id=style.id,
        organization_id=style.organization_id,
        owner_id=style.owner_id,
    )
    return style


async def list_(
    session: AsyncSession, scope: Scope, *, skip: int, limit: int, search: str | None = None
) -> tuple[list[Style], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Style)]
    if search:
        where.append(matches(search, Style.name, Style.description))
    return await list_rows(session, Style, where=where, skip=skip, limit=limit)


async def get(session: AsyncSession, scope: Scope, style_id: uuid.UUID) -> Style:
    return await get_row(session, Style, style_id, where=scope.filter(Style), what="Style")


async def update(
    session: AsyncSession, scope: Scope, style_id: uuid.UUID, data: StyleUpdate
) -> Style:
    style = apply_update(await get(session, scope, style_id), data)
    await session.flush()
    return style


async def delete(session: AsyncSession, scope: Scope, style_id: uuid.UUID) -> None:
    await attachments.delete(session, await get(session, scope, style_id))
