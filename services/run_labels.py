"""How a run reads in the Temporal UI and in `sartiq runs`: a one-line summary and a few
lines of details, composed from the domain rows a run works on.

Operators find runs by these ("Generation · Front / look 2 · Demo SS27"), so they name
things as a brand does (shot type, look, shooting, file name), never ids alone, and carry
nothing secret: names and ids only, no e-mail addresses, URLs or settings. Text from
tenants is flattened to one short line (it is shown, never interpreted).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation
from models.jobs import BulkUpload, Export
from models.organization import Organization
from models.shooting import Shooting, ShootingLook
from models.shot import Shot
from models.shot_type import ShotType

# The UI shows the summary on one line; longer names are cut with an ellipsis.
MAX_NAME = 60
MAX_SUMMARY = 160


@dataclass(frozen=True)
class RunLabel:
    summary: str  # the workflow's static_summary
    details: str  # its static_details (lines of "Name: value")


def one_line(text: str | None, limit: int = MAX_NAME) -> str:
    """Tenant text as one plain short line (newlines and runs of spaces collapsed)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _label(kind: str, parts: list[str], details: dict[str, str | None]) -> RunLabel:
    summary = " · ".join([kind, *[p for p in parts if p]])
    lines = [f"{name}: {value}" for name, value in details.items() if value]
    return RunLabel(summary=one_line(summary, MAX_SUMMARY), details="\n".join(lines))


def look_name(look: ShootingLook | None) -> str | None:
    if look is None:
        return None
    return one_line(look.name) if look.name else f"look {look.position + 1}"


async def _organization(session: AsyncSession, org_id: uuid.UUID | None) -> str | None:
    org = await session.get(Organization, org_id) if org_id else None
    return one_line(org.name) if org is not None else None


async def _shooting(session: AsyncSession, shooting_id: uuid.UUID | None) -> Shooting | None:
    return await session.get(Shooting, shooting_id) if shooting_id else None


async def shot_place(session: AsyncSession, shot_id: uuid.UUID | None) -> str | None:
    """ "Front / look 2": the shot type and the look a shot belongs to."""
    shot = await session.get(Shot, shot_id) if shot_id else None
    if shot is None:
        return None
    shot_type = await session.get(ShotType, shot.shot_type_id)
    look = await session.get(ShootingLook, shot.look_id)
    names = [one_line(shot_type.name) if shot_type else None, look_name(look)]
    return " / ".join(n for n in names if n) or None


async def generation_summaries(
    session: AsyncSession, shot_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The summaries of the generations of many shots at once (a batch's page): one query."""
    if not shot_ids:
        return {}
    rows = await session.execute(
        select(Shot.id, ShotType.name, ShootingLook.name, ShootingLook.position, Shooting.name)
        .join(ShotType, ShotType.id == Shot.shot_type_id)
        .join(ShootingLook, ShootingLook.id == Shot.look_id)
        .join(Shooting, Shooting.id == Shot.shooting_id)
        .where(Shot.id.in_(shot_ids))
    )
    summaries = {}
    for shot_id, type_name, name, position, shooting_name in rows:
        look = one_line(name) if name else f"look {position + 1}"
        place = f"{one_line(type_name)} / {look}"
        summaries[shot_id] = _label("Generation", [place, one_line(shooting_name)], {}).summary
    return summaries


async def generation(session: AsyncSession, row: Generation) -> RunLabel:
    shooting = await _shooting(session, row.shooting_id)
    place = await shot_place(session, row.shot_id)
    return _label(
        "Generation",
        [place or "", one_line(shooting.name) if shooting else ""],
        {
            "Organization": await _organization(session, row.organization_id),
            "Shooting": f"{one_line(shooting.name)} ({shooting.id})" if shooting else None,
            "Shot": f"{place} ({row.shot_id})" if row.shot_id else None,
            "Generation": f"{row.id} · {row.generation_type.value} · {row.strategy.value}",
            "Attempt": str(row.attempt),
        },
    )


async def batch(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    shooting_id: uuid.UUID,
    look_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    total: int,
) -> RunLabel:
    shooting = await _shooting(session, shooting_id)
    look = await session.get(ShootingLook, look_id) if look_id else None
    scope = look_name(look) or "all looks"
    return _label(
        "Batch",
        [one_line(shooting.name) if shooting else "", scope, f"{total} shots"],
        {
            "Organization": await _organization(session, organization_id),
            "Shooting": f"{one_line(shooting.name)} ({shooting_id})" if shooting else None,
            "Looks": scope,
            "Batch": str(batch_id),
        },
    )


async def export(session: AsyncSession, row: Export) -> RunLabel:
    shooting = await _shooting(session, row.shooting_id)
    return _label(
        "Export",
        [one_line(shooting.name) if shooting else "", row.format.value],
        {
            "Organization": await _organization(session, row.organization_id),
            "Shooting": f"{one_line(shooting.name)} ({shooting.id})" if shooting else None,
            "Export": str(row.id),
        },
    )


async def bulk_upload(session: AsyncSession, row: BulkUpload) -> RunLabel:
    return _label(
        "Bulk upload",
        [one_line(row.filename) if row.filename else ""],
        {
            "Organization": await _organization(session, row.organization_id),
            "Bulk upload": str(row.id),
        },
    )


async def caption(
    session: AsyncSession,
    *,
    media_id: uuid.UUID,
    product_name: str | None,
    organization_id: uuid.UUID | None,
) -> RunLabel:
    return _label(
        "Caption",
        [one_line(product_name) if product_name else "image"],
        {
            "Organization": await _organization(session, organization_id),
            "Media": str(media_id),
        },
    )
