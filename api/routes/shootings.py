"""Shootings and their nested looks (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.shooting import (
    ShootingCreate,
    ShootingLookCreate,
    ShootingLookPublic,
    ShootingPublic,
    ShootingUpdate,
)
from services import looks, shootings

router = APIRouter(prefix="/shootings", tags=["shootings"])


@router.get("/")
async def list_shootings(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    archived: bool | None = None,
    search: str | None = None,
) -> Page[ShootingPublic]:
    rows, count = await shootings.list_(
        session, scope, skip=page.skip, limit=page.limit, archived=archived, search=search
    )
    return Page(data=await shootings.publics(session, rows), count=count)


@router.post("/", status_code=201)
async def create_shooting(
    body: ShootingCreate, session: SessionDep, scope: ScopeDep
) -> ShootingPublic:
    shooting = await shootings.create(session, scope, body)
    await session.commit()
    return (await shootings.publics(session, [shooting]))[0]


@router.get("/{shooting_id}")
async def read_shooting(
    shooting_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> ShootingPublic:
    shooting = await shootings.get(session, scope, shooting_id)
    return (await shootings.publics(session, [shooting]))[0]


@router.patch("/{shooting_id}")
async def update_shooting(
    shooting_id: uuid.UUID, body: ShootingUpdate, session: SessionDep, scope: ScopeDep
) -> ShootingPublic:
    shooting = await shootings.update(session, scope, shooting_id, body)
    await session.commit()
    return (await shootings.publics(session, [shooting]))[0]


@router.delete("/{shooting_id}", status_code=204)
async def delete_shooting(shooting_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await shootings.delete(session, scope, shooting_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/{shooting_id}/looks")
async def list_shooting_looks(
    shooting_id: uuid.UUID, session: SessionDep, scope: ScopeDep, page: PageDep
) -> Page[ShootingLookPublic]:
    rows, count = await looks.list_for_shooting(
        session, scope, shooting_id, skip=page.skip, limit=page.limit
    )
    return Page(data=await looks.publics(session, rows), count=count)


@router.post("/{shooting_id}/looks", status_code=201)
async def create_shooting_look(
    shooting_id: uuid.UUID, body: ShootingLookCreate, session: SessionDep, scope: ScopeDep
) -> ShootingLookPublic:
    """Add a look; one shot is created per shot type."""
    look = await looks.create(session, scope, shooting_id, body)
    await session.commit()
    return (await looks.publics(session, [look]))[0]
