"""Looks of a shooting: one outfit/setup, with exactly one shot per configured shot type."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.guideline import Guideline
from models.preset import BackgroundPreset, ResolutionPreset
from models.product import Product
from models.shooting import (
    ShootingLook,
    ShootingLookBase,
    ShootingLookCreate,
    ShootingLookGuideline,
    ShootingLookOutfitProduct,
    ShootingLookPublic,
    ShootingLookUpdate,
)
from models.shot import RevisionStatus, Shot, ShotRevision
from models.shot_type import ShotType, Visibility
from models.style import Style
from models.subject import Subject
from services import attachments, shootings
from services.errors import BadRequest, Conflict
from services.repository import ensure_visible, get_row, list_rows, visibility
from services.tenancy import Scope

LIST_FIELDS = frozenset({"shot_type_ids", "guidelines", "outfit_product_ids"})
LOOK_FIELDS = frozenset(ShootingLookBase.model_fields) | {"outfit_reference_urls"}


def _ensure_unique(values: dict[str, Any]) -> None:
    for name in sorted(LIST_FIELDS):
        ids = values.get(name) or []
        if len(ids) != len(set(ids)):
            raise BadRequest(f"{name} contains duplicate ids")


async def _ensure_references(session: AsyncSession, scope: Scope, values: dict[str, Any]) -> None:
    """Every referenced id must be visible to the scope (404 naming the first missing one)."""
    checks: list[tuple[Any, list[Any], ColumnElement[bool], str]] = [
        (
            Product,
            [
                values.get("main_product_id"),
                values.get("second_product_id"),
                *(values.get("outfit_product_ids") or []),
            ],
            scope.filter(Product),
            "Product",
        ),
        (
            Subject,
            [values.get("subject_id")],
            visibility(Subject, scope, Subject.is_public.is_(True)),
            "Subject",
        ),
        (Style, [values.get("style_id")], scope.filter(Style), "Style"),
        (Guideline, values.get("guidelines") or [], scope.filter(Guideline), "Guideline"),
        (
            ResolutionPreset,
            [values.get("resolution_preset_id")],
            visibility(ResolutionPreset, scope, ResolutionPreset.is_system.is_(True)),
            "Resolution preset",
        ),
        (
            BackgroundPreset,
            [values.get("background_preset_id")],
            visibility(BackgroundPreset, scope, BackgroundPreset.is_system.is_(True)),
            "Background preset",
        ),
        (
            ShotType,
            values.get("shot_type_ids") or [],
            visibility(ShotType, scope, ShotType.visibility == Visibility.PUBLIC),
            "Shot type",
        ),
    ]
    for model, ids, where, what in checks:
        await ensure_visible(session, model, ids, where=where, what=what)


async def _replace_links(session: AsyncSession, look_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Given lists replace the look's guideline and outfit-product rows."""
    if values.get("guidelines") is not None:
        table = ShootingLookGuideline
        await session.execute(delete(table).where(table.look_id == look_id))
        rows = [{"look_id": look_id, "guideline_id": i} for i in values["guidelines"]]
        if rows:
            await session.execute(insert(table), rows)
    if values.get("outfit_product_ids") is not None:
        outfit = ShootingLookOutfitProduct
        await session.execute(delete(outfit).where(outfit.look_id == look_id))
        rows = [
            {"look_id": look_id, "product_id": product_id, "position": position}
            for position, product_id in enumerate(values["outfit_product_ids"])
        ]
        if rows:
            await session.execute(insert(outfit), rows)


async def _sync_shots(
    session: AsyncSession, look: ShootingLook, shot_type_ids: list[uuid.UUID]
) -> None:
    """One shot per shot type, positioned by list order; removed types lose their shot."""
    existing = {
        shot.shot_type_id: shot
        for shot in await session.scalars(select(Shot).where(Shot.look_id == look.id))
    }
    removed = [shot.id for type_id, shot in existing.items() if type_id not in shot_type_ids]
    if removed:
        reviewed = await session.scalar(
            select(ShotRevision.shot_id)
            .where(ShotRevision.shot_id.in_(removed), ShotRevision.status != RevisionStatus.PENDING)
            .limit(1)
        )
        if reviewed is not None:
            raise Conflict(f"Shot {reviewed} has revisions beyond pending and cannot be removed")
        await attachments.detach_all(session, Shot, removed)
        await session.execute(delete(Shot).where(Shot.id.in_(removed)))
    for position, type_id in enumerate(shot_type_ids):
        shot = existing.get(type_id)
        if shot is not None:
            shot.position = position
            continue
        session.add(
            Shot(
                organization_id=look.organization_id,
                owner_id=look.owner_id,
                shooting_id=look.shooting_id,
                look_id=look.id,
                shot_type_id=type_id,
                position=position,
            )
        )
    await session.flush()


async def create(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, data: ShootingLookCreate
) -> ShootingLook:
    """The look, its link rows and one shot per shot type, in the caller's transaction."""
    shooting = await shootings.get(session, scope, shooting_id, for_update=True)
    values = data.model_dump()
    _ensure_unique(values)
    await _ensure_references(session, scope, values)
    position = await session.scalar(
        select(func.count())
        .select_from(ShootingLook)
        .where(ShootingLook.shooting_id == shooting.id)
    )
    look = ShootingLook(
        **{k: v for k, v in values.items() if k in LOOK_FIELDS},
        shooting_id=shooting.id,
        position=int(position or 0),
        organization_id=shooting.organization_id,
        owner_id=shooting.owner_id,
    )
    session.add(look)
    await session.flush()
    await _replace_links(session, look.id, values)
    await _sync_shots(session, look, data.shot_type_ids)
    return look


async def list_for_shooting(
    session: AsyncSession, scope: Scope, shooting_id: uuid.UUID, *, skip: int, limit: int
) -> tuple[list[ShootingLook], int]:
    shooting = await shootings.get(session, scope, shooting_id)
    where = [scope.filter(ShootingLook), ShootingLook.shooting_id == shooting.id]
    order = (ShootingLook.position, ShootingLook.created_at, ShootingLook.id)
    return await list_rows(
        session, ShootingLook, where=where, skip=skip, limit=limit, order_by=order
    )


async def get(
    session: AsyncSession, scope: Scope, look_id: uuid.UUID, *, for_update: bool = False
) -> ShootingLook:
    return await get_row(
        session,
        ShootingLook,
        look_id,
        where=scope.filter(ShootingLook),
        what="Shooting look",
        for_update=for_update,
    )


async def update(
    session: AsyncSession, scope: Scope, look_id: uuid.UUID, data: ShootingLookUpdate
) -> ShootingLook:
    look = await get(session, scope, look_id, for_update=True)
    # An explicit null list means "leave as is" (the columns are not nullable).
    values = {
        k: v
        for k, v in data.model_dump(exclude_unset=True).items()
        if v is not None or (k not in LIST_FIELDS and k != "outfit_reference_urls")
    }
    _ensure_unique(values)
    await _ensure_references(session, scope, values)
    for key, value in values.items():
        if key in LOOK_FIELDS:
            setattr(look, key, value)
    await session.flush()
    await _replace_links(session, look.id, values)
    if "shot_type_ids" in values:
        await _sync_shots(session, look, values["shot_type_ids"])
    return look


async def delete_(session: AsyncSession, scope: Scope, look_id: uuid.UUID) -> None:
    """Shots, revisions and link rows go with it (database cascades), attachments too."""
    await attachments.delete(session, await get(session, scope, look_id))


async def publics(session: AsyncSession, looks: Sequence[ShootingLook]) -> list[ShootingLookPublic]:
    """API objects; link rows and shots of the whole page are loaded in three queries."""
    ids = [look.id for look in looks]
    guidelines: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    outfit: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    shot_types: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    shot_ids: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        g = ShootingLookGuideline
        for look_id, guideline_id in await session.execute(
            select(g.look_id, g.guideline_id).where(g.look_id.in_(ids)).order_by(g.guideline_id)
        ):
            guidelines[look_id].append(guideline_id)
        o = ShootingLookOutfitProduct
        for look_id, product_id in await session.execute(
            select(o.look_id, o.product_id).where(o.look_id.in_(ids)).order_by(o.position)
        ):
            outfit[look_id].append(product_id)
        for look_id, shot_id, type_id in await session.execute(
            select(Shot.look_id, Shot.id, Shot.shot_type_id)
            .where(Shot.look_id.in_(ids))
            .order_by(Shot.position, Shot.id)
        ):
            shot_ids[look_id].append(shot_id)
            shot_types[look_id].append(type_id)
    return [
        ShootingLookPublic.model_validate(
            look,
            update={
                "shot_type_ids": shot_types[look.id],
                "guidelines": guidelines[look.id],
                "outfit_product_ids": outfit[look.id],
                "shot_ids": shot_ids[look.id],
            },
        )
        for look in looks
    ]
