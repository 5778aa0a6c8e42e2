"""Looks of a shooting: one outfit/setup, with exactly one shot per configured shot type."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.guideline import Guideline
from models.outfit import Outfit
from models.preset import BackgroundPreset, ResolutionPreset
from models.product import Product
from models.shooting import (
    ShootingLook,
    ShootingLookBase,
    ShootingLookCreate,
    ShootingLookGuideline,
    ShootingLookPublic,
    ShootingLookUpdate,
)
from models.shot import RevisionStatus, Shot, ShotRevision
from models.shot_type import ShotType, Visibility
from models.style import Style
from models.subject import Subject
from services import attachments, outfits, shootings
from services.errors import BadRequest, Conflict, Unprocessable
from services.repository import ensure_visible, get_row, list_rows, visibility
from services.tenancy import Scope

LIST_FIELDS = frozenset({"shot_type_ids", "guidelines", "outfit_product_ids"})
LOOK_FIELDS = frozenset(ShootingLookBase.model_fields)


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
        (Outfit, [values.get("outfit_id")], scope.filter(Outfit), "Outfit"),
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
    """A given list replaces the look's guideline rows, keeping its order (the first
    guideline's settings win)."""
    if values.get("guidelines") is not None:
        table = ShootingLookGuideline
        await session.execute(delete(table).where(table.look_id == look_id))
        rows = [
            {"look_id": look_id, "guideline_id": i, "position": position}
            for position, i in enumerate(values["guidelines"])
        ]
        if rows:
            await session.execute(insert(table), rows)


def _legacy_outfit(values: dict[str, Any]) -> dict[str, Any]:
    """The deprecated inline outfit fields given (a null list: not given), as outfit
    fields. Beside an `outfit_id` they are ignored when empty (a client echoing a look
    back) and ambiguous otherwise (422 naming the inline field)."""
    given = outfits.legacy_values(
        {k: v for k, v in values.items() if v is not None or k == "outfit_instruction"}
    )
    if "outfit_id" in values:
        if any(given.values()):
            field = next(k for k, v in outfits.LEGACY_FIELDS.items() if given.get(v))
            raise Unprocessable(field, "give outfit_id or the inline outfit fields, not both")
        return {}
    return given


def _outfit_name(look: ShootingLook) -> str:
    return f"{look.name or f'Look {look.position + 1}'} outfit"[:255]


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
    values = data.model_dump(exclude_unset=True)
    _ensure_unique(values)
    legacy = _legacy_outfit(values)
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
    if any(legacy.values()):  # only an outfit with something in it
        await outfits.apply_legacy(session, look, legacy, name=_outfit_name(look))
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
    legacy = _legacy_outfit(values)
    await _ensure_references(session, scope, values)
    for key, value in values.items():
        if key in LOOK_FIELDS:
            setattr(look, key, value)
    await session.flush()
    await _replace_links(session, look.id, values)
    if legacy and (look.outfit_id is not None or any(legacy.values())):
        await outfits.apply_legacy(session, look, legacy, name=_outfit_name(look))
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
    shot_types: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    shot_ids: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        g = ShootingLookGuideline
        for look_id, guideline_id in await session.execute(
            select(g.look_id, g.guideline_id)
            .where(g.look_id.in_(ids))
            .order_by(g.position, g.guideline_id)
        ):
            guidelines[look_id].append(guideline_id)
        for look_id, shot_id, type_id in await session.execute(
            select(Shot.look_id, Shot.id, Shot.shot_type_id)
            .where(Shot.look_id.in_(ids))
            .order_by(Shot.position, Shot.id)
        ):
            shot_ids[look_id].append(shot_id)
            shot_types[look_id].append(type_id)
    inline = await _inline_outfits(session, looks)
    return [
        ShootingLookPublic.model_validate(
            look,
            update={
                "shot_type_ids": shot_types[look.id],
                "guidelines": guidelines[look.id],
                "shot_ids": shot_ids[look.id],
                **inline.get(look.id, {}),
            },
        )
        for look in looks
    ]


async def _inline_outfits(
    session: AsyncSession, looks: Sequence[ShootingLook]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The deprecated inline outfit fields of each look, read from its outfit (two queries
    for the page)."""
    outfit_ids = {look.outfit_id for look in looks if look.outfit_id is not None}
    if not outfit_ids:
        return {}
    rows = {o.id: o for o in await session.scalars(select(Outfit).where(Outfit.id.in_(outfit_ids)))}
    products = await outfits.product_ids_of(session, outfit_ids)
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for look in looks:
        outfit = rows.get(look.outfit_id) if look.outfit_id else None
        if outfit is not None:
            found[look.id] = {
                "outfit_product_ids": products.get(outfit.id, []),
                "outfit_reference_urls": list(outfit.reference_urls),
                "outfit_instruction": outfit.styling_instruction,
            }
    return found
