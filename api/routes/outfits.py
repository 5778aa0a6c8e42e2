"""Outfits (DOMAIN §1.11), org-scoped (`?organization_id=` or personal): reusable by the
looks that reference them (`outfit_id`). Deleting an outfit leaves its looks without one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.outfit import OutfitCreate, OutfitPublic, OutfitUpdate
from services import outfits

router = APIRouter(prefix="/outfits", tags=["outfits"])


@router.get("/")
async def list_outfits(
    session: SessionDep, scope: ScopeDep, page: PageDep, search: str | None = None
) -> Page[OutfitPublic]:
    rows, count = await outfits.list_(
        session, scope, skip=page.skip, limit=page.limit, search=search
    )
    return Page(data=await outfits.publics(session, rows), count=count)


@router.post("/", status_code=201)
async def create_outfit(body: OutfitCreate, session: SessionDep, scope: ScopeDep) -> OutfitPublic:
    """Products in order (each the scope's own), reference image URLs, a styling
    instruction."""
    outfit = await outfits.create(session, scope, body)
    await session.commit()
    return (await outfits.publics(session, [outfit]))[0]


@router.get("/{outfit_id}")
async def read_outfit(outfit_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> OutfitPublic:
    return (await outfits.publics(session, [await outfits.get(session, scope, outfit_id)]))[0]


@router.patch("/{outfit_id}")
async def update_outfit(
    outfit_id: uuid.UUID, body: OutfitUpdate, session: SessionDep, scope: ScopeDep
) -> OutfitPublic:
    """Lists given replace the current ones; every look using the outfit sees the change."""
    outfit = await outfits.update(session, scope, outfit_id, body)
    await session.commit()
    return (await outfits.publics(session, [outfit]))[0]


@router.delete("/{outfit_id}", status_code=204)
async def delete_outfit(outfit_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    """Looks that used it keep going without an outfit (their `outfit_id` becomes null)."""
    await outfits.delete_(session, scope, outfit_id)
    await session.commit()
    return Response(status_code=204)
