"""Background and resolution presets: the scope's own plus read-only system presets."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from models.preset import BackgroundPreset, ResolutionPreset
from services import attachments
from services.errors import Forbidden
from services.repository import apply_update, get_row, list_rows, matches
from services.repository import visibility as with_public
from services.tenancy import Scope

PresetT = TypeVar("PresetT", BackgroundPreset, ResolutionPreset)

WHAT: dict[type[SQLModel], str] = {
    BackgroundPreset: "Background preset",
    ResolutionPreset: "Resolution preset",
}

SYSTEM_RESOLUTIONS: tuple[dict[str, Any], ...] = (
    {"name": "Square", "width": 1024, "height": 1024},
    {"name": "Portrait 2:3", "width": 832, "height": 1216},
    {"name": "Landscape 3:2", "width": 1216, "height": 832},
    {"name": "Instagram 4:5", "width": 1080, "height": 1350},
)
SYSTEM_BACKGROUNDS: tuple[dict[str, Any], ...] = (
    {
        "name": "Studio white",
        "color": "#FFFFFF",
        "prompt": "seamless pure white studio background, soft even lighting",
    },
    {
        "name": "Light grey",
        "color": "#E5E5E5",
        "prompt": "seamless light grey studio background, soft even lighting",
    },
    {
        "name": "Outdoor street",
        "description": "An urban street in daylight",
        "prompt": "city street in natural daylight, shallow depth of field",
    },
)
# Serializes concurrent seeding (several API processes starting at once).
_SEED_LOCK_KEY = 0x5A27_0001


def readable(model: type[PresetT], scope: Scope) -> ColumnElement[bool]:
    """The scope's presets plus every system preset."""
    return with_public(model, scope, model.is_system.is_(True))


async def create(
    session: AsyncSession,
    scope: Scope,
    model: type[PresetT],
    data: SQLModel,
    *,
    system: bool = False,
) -> PresetT:
    """A preset of the scope, or (superusers only) a system preset owned by nobody."""
    preset = model(**data.model_dump())
    if system:
        if not scope.is_superuser:
            raise Forbidden("Not enough permissions")
        preset.is_system = True
    else:
        scope.stamp(preset)
    session.add(preset)
    await session.flush()
    return preset


async def list_(
    session: AsyncSession,
    scope: Scope,
    model: type[PresetT],
    *,
    skip: int,
    limit: int,
    search: str | None = None,
) -> tuple[list[PresetT], int]:
    where = [readable(model, scope)]
    if search:
        where.append(matches(search, model.name))
    order = (model.is_system.desc(), model.name, model.id)
    return await list_rows(session, model, where=where, skip=skip, limit=limit, order_by=order)


async def get(
    session: AsyncSession, scope: Scope, model: type[PresetT], preset_id: uuid.UUID
) -> PresetT:
    return await get_row(session, model, preset_id, where=readable(model, scope), what=WHAT[model])


async def _get_writable(
    session: AsyncSession, scope: Scope, model: type[PresetT], preset_id: uuid.UUID
) -> PresetT:
    preset = await get(session, scope, model, preset_id)
    if preset.is_system and not scope.is_superuser:
        raise Forbidden("Not enough permissions")
    return preset


async def update(
    session: AsyncSession, scope: Scope, model: type[PresetT], preset_id: uuid.UUID, data: SQLModel
) -> PresetT:
    preset = apply_update(await _get_writable(session, scope, model, preset_id), data)
    await session.flush()
    return preset


async def delete(
    session: AsyncSession, scope: Scope, model: type[PresetT], preset_id: uuid.UUID
) -> None:
    await attachments.delete(session, await _get_writable(session, scope, model, preset_id))


async def ensure_system_presets(session: AsyncSession) -> None:
    """Create the missing default system presets (by name); the caller commits."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK_KEY})
    seeds: list[tuple[type[SQLModel], tuple[dict[str, Any], ...]]] = [
        (ResolutionPreset, SYSTEM_RESOLUTIONS),
        (BackgroundPreset, SYSTEM_BACKGROUNDS),
    ]
    for model, rows in seeds:
        query = select(model.name).where(model.is_system.is_(True))  # type: ignore[attr-defined]
        existing = set(await session.scalars(query))
        session.add_all(model(**row, is_system=True) for row in rows if row["name"] not in existing)
    await session.flush()
