"""The review gallery: the generated images of a shooting (org-scoped like every route)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from services import gallery
from services.gallery import GalleryItem

router = APIRouter(prefix="/gallery", tags=["gallery"])


@router.get("/")
async def list_gallery(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    shooting_id: Annotated[uuid.UUID, Query(description="The shooting to review.")],
    look_id: uuid.UUID | None = None,
    shot_id: uuid.UUID | None = None,
    current_only: Annotated[
        bool, Query(description="Only the images of each shot's current revision.")
    ] = False,
) -> Page[GalleryItem]:
    """One item per image of the shooting's completed generations, by look and shot, the
    newest generation first; `in_current_revision` marks the images under review."""
    items, count = await gallery.list_(
        session,
        scope,
        shooting_id=shooting_id,
        skip=page.skip,
        limit=page.limit,
        look_id=look_id,
        shot_id=shot_id,
        current_only=current_only,
    )
    return Page(data=items, count=count)
