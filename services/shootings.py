"""Shootings: photo-shoot projects of an organization (or personal) holding looks and shots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from models.guideline import Guideline
from models.shooting import Shooting, ShootingCreate, ShootingPublic, ShootingUpdate
from services import attachments, shots
from services.errors import BadRequest
from services.repository import apply_update, ensure_visible, get_row, list_rows
from services.tenancy import Scope


async def _ensure_guidelines_visible(
    session: AsyncSession, scope: Scope, guidelines_id: uuid.UUID | None
) -> None:
    await ensure_visible(
        session, Guideline, [guidelines_id], where=scope.filter(Guideline), what="Guideline"
    )


async def publics(session: AsyncSession, rows: Sequence[Shooting]) -> list[ShootingPublic]:
    """API objects with `shot_status`, counted for the whole page in one query."""
    counts = await shots.status_counts(session, (r.id for r in rows))
    return [ShootingPublic.model_validate(r, update={"shot_status": counts[r.id]}) for r in rows]


async def create(session: AsyncSession, scope: Scope, data: ShootingCreate) -> Shooting:
    await _ensure_guidelines_visible(session, scope, data.default_guidelines_id)
    shooting = scope.stamp(Shooting(**data.model_dump()))
    session.add(shooting)
    await session.flush()
    return shooting


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    archived: bool | None = None,
    search: str | None = None,
) -> tuple[list[Shooting], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Shooting)]
    if archived is not None:
        where.append(Shooting.archived.is_(archived))
    if search:
        pattern = f"%{search.lower()}%"
        where.append(
            or_(
                *(
                    func.lower(column).like(pattern)
                    for column in (
                        Shooting.name,
                        Shooting.brand,
                        Shooting.collection,
                        Shooting.season,
                    )
                )
            )
        )
    return await list_rows(session, Shooting, where=where, skip=skip, limit=limit)


async def get(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, *, for_update: bool = False
) -> Shooting:
    return await get_row(
        session,
        Shooting,
        shooting_id,
        where=scope.filter(Shooting),
        what="Shooting",
        for_update=for_update,
    )


async def update(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, data: ShootingUpdate
) -> Shooting:
    for field in ("name", "archived"):
        if field in data.model_fields_set and getattr(data, field) is None:
            raise BadRequest(f"{field} cannot be null")
    shooting = await get(session, scope, shooting_id)
    if "default_guidelines_id" in data.model_fields_set:
        await _ensure_guidelines_visible(session, scope, data.default_guidelines_id)
    apply_update(shooting, data)
    await session.flush()
    return shooting


async def delete(session: AsyncSession, scope: Scope, shooting_id: uuid.UUID) -> None:
    """Looks, shots and revisions go with it (database cascades), their attachments too."""
    await attachments.delete(session, await get(session, scope, shooting_id))
